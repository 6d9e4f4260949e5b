package wechat

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken"
)

// InfoType values of pushes to the authorization event URL.
const (
	InfoTypeVerifyTicket     = "component_verify_ticket"
	InfoTypeAuthorized       = "authorized"
	InfoTypeUpdateAuthorized = "updateauthorized"
	InfoTypeUnauthorized     = "unauthorized"
	InfoTypeFastRegister     = "notify_third_fasteregister"
)

// MaxEventBytes caps a decrypted push. Real ones are a few hundred bytes.
const MaxEventBytes = 64 << 10

// Event is the decrypted payload of a push to the authorization event URL.
// Fields that its InfoType does not carry are zero.
type Event struct {
	AppID      string // the component appid
	CreateTime time.Time
	// InfoType is one of the InfoType constants, or one this package does
	// not know; an unknown one is returned with only AppID and CreateTime.
	InfoType string

	ComponentVerifyTicket string

	AuthorizerAppID   string
	AuthorizationCode string
	PreAuthCode       string
	// AuthorizationCodeExpiresAt is zero when the push did not say.
	AuthorizationCodeExpiresAt time.Time

	FastRegister *FastRegister
}

// FastRegister is the result of a fast registration of a mini program
// (notify_third_fasteregister). On success (Status 0) AuthCode is exchanged
// with QueryAuth like any authorization code.
type FastRegister struct {
	AppID    string // the new mini program
	Status   int
	AuthCode string
	Msg      string
	// Info echoes the registration request (name, code, code_type,
	// legal_persona_wechat, legal_persona_name, component_phone, …), as
	// sent.
	Info map[string]string
}

// ParseEvent reads a decrypted push. Values may be in CDATA sections or
// not, numbers included. It fails with an *wxtoken.Error of Code EInvalid
// when the XML is malformed, when AppId, CreateTime or InfoType is missing or
// invalid, or when a field its InfoType needs is missing; the error names the
// field, never a value.
func ParseEvent(plaintext []byte) (*Event, error) {
	if len(plaintext) > MaxEventBytes {
		return nil, &wxtoken.Error{Code: wxtoken.ETooLarge, Message: fmt.Sprintf("wechat: event: larger than %d bytes", MaxEventBytes)}
	}
	doc, err := scanEventXML(plaintext)
	if err != nil {
		return nil, err
	}
	e := &Event{
		AppID:    doc.fields["AppId"],
		InfoType: doc.fields["InfoType"],
	}
	if e.AppID == "" {
		return nil, eventError("missing AppId")
	}
	if !wxtoken.ValidAppID(e.AppID) {
		return nil, eventError("AppId is not an appid")
	}
	if e.InfoType == "" {
		return nil, eventError("missing InfoType")
	}
	created, err := doc.unixSeconds("CreateTime")
	if err != nil {
		return nil, err
	}
	if created.IsZero() {
		return nil, eventError("missing CreateTime")
	}
	e.CreateTime = created

	switch e.InfoType {
	case InfoTypeVerifyTicket:
		if e.ComponentVerifyTicket, err = doc.required("ComponentVerifyTicket"); err != nil {
			return nil, err
		}
	case InfoTypeAuthorized, InfoTypeUpdateAuthorized:
		if e.AuthorizerAppID, err = doc.authorizerAppID(); err != nil {
			return nil, err
		}
		if e.AuthorizationCode, err = doc.required("AuthorizationCode"); err != nil {
			return nil, err
		}
		e.PreAuthCode = doc.fields["PreAuthCode"]
		if e.AuthorizationCodeExpiresAt, err = doc.codeExpiry(created); err != nil {
			return nil, err
		}
	case InfoTypeUnauthorized:
		if e.AuthorizerAppID, err = doc.authorizerAppID(); err != nil {
			return nil, err
		}
	case InfoTypeFastRegister:
		if e.FastRegister, err = doc.fastRegister(); err != nil {
			return nil, err
		}
	}
	return e, nil
}

func eventError(what string) error {
	return &wxtoken.Error{Code: wxtoken.EInvalid, Message: "wechat: event: " + what}
}

// eventDoc holds the text of the children of <xml>, and of <info>'s
// children (notify_third_fasteregister nests the registration request there).
type eventDoc struct {
	fields map[string]string
	info   map[string]string
}

// knownFields are read by ParseEvent, so a push repeating one of them is
// ambiguous and refused; unknown fields may repeat.
var knownFields = map[string]bool{
	"AppId": true, "CreateTime": true, "InfoType": true, "ComponentVerifyTicket": true,
	"AuthorizerAppid": true, "AuthorizerAppId": true, "AuthorizationCode": true,
	"AuthorizationCodeExpiredTime": true, "PreAuthCode": true,
	"appid": true, "status": true, "auth_code": true, "msg": true, "info": true,
}

func scanEventXML(b []byte) (*eventDoc, error) {
	doc := &eventDoc{fields: make(map[string]string), info: make(map[string]string)}
	dec := xml.NewDecoder(bytes.NewReader(b))
	var (
		depth            int
		roots            int
		field, infoField string
		text, infoText   strings.Builder
		fieldSeen        = make(map[string]bool)
	)
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, eventError(fmt.Sprintf("malformed XML at line %d", se.Line))
			}
			return nil, eventError("malformed XML")
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch depth {
			case 1:
				roots++
				if roots > 1 {
					return nil, eventError("more than one root element")
				}
				if t.Name.Local != "xml" {
					return nil, eventError("root element is not <xml>")
				}
			case 2:
				field = t.Name.Local
				if knownFields[field] && fieldSeen[field] {
					return nil, eventError("repeated element " + field)
				}
				fieldSeen[field] = true
				text.Reset()
			case 3:
				infoField = t.Name.Local
				infoText.Reset()
			}
		case xml.EndElement:
			switch depth {
			case 2:
				doc.fields[field] = strings.TrimSpace(text.String())
			case 3:
				if field == "info" {
					doc.info[infoField] = strings.TrimSpace(infoText.String())
				}
			}
			depth--
		case xml.CharData:
			switch depth {
			case 0:
				if len(bytes.TrimSpace(t)) > 0 {
					return nil, eventError("text outside the root element")
				}
			case 2:
				text.Write(t)
			case 3:
				infoText.Write(t)
			}
		}
	}
	if roots == 0 {
		return nil, eventError("no <xml> root element")
	}
	return doc, nil
}

func (d *eventDoc) required(name string) (string, error) {
	v := d.fields[name]
	if v == "" {
		return "", eventError("missing " + name)
	}
	return v, nil
}

// authorizerAppID accepts WeChat's spelling AuthorizerAppid and the
// AuthorizerAppId that some of its examples use.
func (d *eventDoc) authorizerAppID() (string, error) {
	v := d.fields["AuthorizerAppid"]
	if v == "" {
		v = d.fields["AuthorizerAppId"]
	}
	if v == "" {
		return "", eventError("missing AuthorizerAppid")
	}
	if !wxtoken.ValidAppID(v) {
		return "", eventError("AuthorizerAppid is not an appid")
	}
	return v, nil
}

// integer reads a whole number; absent reads as ok == false.
func (d *eventDoc) integer(name string) (v int64, ok bool, err error) {
	s, present := d.fields[name]
	if !present || s == "" {
		return 0, false, nil
	}
	v, err = strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false, eventError(name + " is not an integer")
	}
	return v, true, nil
}

func (d *eventDoc) unixSeconds(name string) (time.Time, error) {
	v, ok, err := d.integer(name)
	if err != nil || !ok {
		return time.Time{}, err
	}
	if v <= 0 || v > maxUnixSeconds {
		return time.Time{}, eventError(name + " out of range")
	}
	return time.Unix(v, 0).UTC(), nil
}

// codeExpiry reads AuthorizationCodeExpiredTime. WeChat documents it as a
// lifetime in seconds, but pushes observed in production carry an absolute
// unix timestamp (about CreateTime + 1 h). The two readings cannot collide:
// a lifetime (600, 3600) is far below any unix time at which a push could
// have been created, so a value below CreateTime is a lifetime counted from
// CreateTime, and anything else is a timestamp.
func (d *eventDoc) codeExpiry(created time.Time) (time.Time, error) {
	const name = "AuthorizationCodeExpiredTime"
	v, ok, err := d.integer(name)
	if err != nil || !ok {
		return time.Time{}, err
	}
	if v <= 0 || v > maxUnixSeconds {
		return time.Time{}, eventError(name + " out of range")
	}
	if v < created.Unix() {
		return created.Add(time.Duration(v) * time.Second), nil
	}
	return time.Unix(v, 0).UTC(), nil
}

func (d *eventDoc) fastRegister() (*FastRegister, error) {
	status, ok, err := d.integer("status")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, eventError("missing status")
	}
	if status < -1<<31 || status > 1<<31-1 {
		return nil, eventError("status out of range")
	}
	f := &FastRegister{
		AppID:    d.fields["appid"],
		Status:   int(status),
		AuthCode: d.fields["auth_code"],
		Msg:      d.fields["msg"],
		Info:     d.info,
	}
	if f.Status == 0 && f.AuthCode == "" {
		return nil, eventError("missing auth_code of a successful registration")
	}
	if f.AppID != "" && !wxtoken.ValidAppID(f.AppID) {
		return nil, eventError("appid is not an appid")
	}
	return f, nil
}

// String shows an Event without its secrets (ticket, codes), for logs.
func (e Event) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "wechat.Event{AppID:%s CreateTime:%s InfoType:%s", e.AppID, e.CreateTime.Format(time.RFC3339), e.InfoType)
	if e.ComponentVerifyTicket != "" {
		fmt.Fprintf(&b, " ComponentVerifyTicket:%s", wxtoken.Redact(e.ComponentVerifyTicket))
	}
	if e.AuthorizerAppID != "" {
		fmt.Fprintf(&b, " AuthorizerAppID:%s", e.AuthorizerAppID)
	}
	if e.AuthorizationCode != "" {
		fmt.Fprintf(&b, " AuthorizationCode:%s", wxtoken.Redact(e.AuthorizationCode))
	}
	if e.PreAuthCode != "" {
		fmt.Fprintf(&b, " PreAuthCode:%s", wxtoken.Redact(e.PreAuthCode))
	}
	if !e.AuthorizationCodeExpiresAt.IsZero() {
		fmt.Fprintf(&b, " AuthorizationCodeExpiresAt:%s", e.AuthorizationCodeExpiresAt.Format(time.RFC3339))
	}
	if f := e.FastRegister; f != nil {
		fmt.Fprintf(&b, " FastRegister:{AppID:%s Status:%d AuthCode:%s}", f.AppID, f.Status, redactOptional(f.AuthCode))
	}
	b.WriteString("}")
	return b.String()
}

func (e Event) LogValue() slog.Value { return slog.StringValue(e.String()) }
