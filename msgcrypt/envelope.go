package msgcrypt

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Envelope is the outer, unencrypted XML of a push.
type Envelope struct {
	AppID      string // <AppId> (authorization event pushes)
	ToUserName string // <ToUserName> (message pushes to the $APPID$ URL)
	Encrypt    string // <Encrypt>
}

// ParseEnvelope reads <xml><AppId/>|<ToUserName/><Encrypt/></xml>. Values may
// be CDATA or plain text and are kept verbatim, because the signature covers the
// exact Encrypt text. Other children of <xml> are ignored. It fails with ErrXML
// when the XML is malformed, the root is not <xml>, a known field repeats or
// nests elements, or Encrypt is missing or empty.
func ParseEnvelope(body []byte) (Envelope, error) {
	fields := [...]xmlField{{name: "AppId"}, {name: "ToUserName"}, {name: "Encrypt"}}
	if err := parseXML(body, fields[:]); err != nil {
		return Envelope{}, err
	}
	if fields[2].value == "" {
		return Envelope{}, fmt.Errorf("%w: no Encrypt", ErrXML)
	}
	return Envelope{AppID: fields[0].value, ToUserName: fields[1].value, Encrypt: fields[2].value}, nil
}

type xmlField struct {
	name  string
	value string
	seen  bool
}

// parseXML fills fields from the text of the root's direct children. It is
// stricter than xml.Unmarshal on purpose: a repeated field would let the signed
// value and the decrypted value differ in some other parser along the way.
func parseXML(body []byte, fields []xmlField) error {
	if parseSimpleXML(body, fields) {
		return nil
	}
	for i := range fields {
		fields[i].value, fields[i].seen = "", false
	}
	return parseXMLTokens(body, fields)
}

// parseSimpleXML is a fast path for the shape WeChat actually sends:
// <xml>, then children holding only text without entities and/or CDATA, then
// </xml>, with whitespace between. encoding/xml reads byte by byte and costs
// most of OpenPush otherwise. It reports false for anything else (declarations,
// comments, attributes, entities, nesting, '\r', duplicates, any doubt), and the
// caller then runs the full parser; FuzzParseEnvelope checks that both agree
// whenever this one accepts.
func parseSimpleXML(body []byte, fields []xmlField) bool {
	if !simpleChars(body) {
		return false
	}
	rest, ok := bytes.CutPrefix(trimXMLSpace(body), []byte("<xml>"))
	if !ok {
		return false
	}
	var text []byte
	for {
		rest = trimXMLSpace(rest)
		if after, ok := bytes.CutPrefix(rest, []byte("</xml>")); ok {
			return len(trimXMLSpace(after)) == 0
		}
		if len(rest) == 0 || rest[0] != '<' {
			return false
		}
		end := 1
		for end < len(rest) && isNameByte(rest[end], end == 1) {
			end++
		}
		if end == 1 || end >= len(rest) || rest[end] != '>' {
			return false
		}
		name := rest[1:end]
		rest = rest[end+1:]
		text = text[:0]
		for {
			if after, ok := bytes.CutPrefix(rest, []byte("<![CDATA[")); ok {
				i := bytes.Index(after, []byte("]]>"))
				if i < 0 {
					return false
				}
				text = append(text, after[:i]...)
				rest = after[i+3:]
				continue
			}
			i := bytes.IndexByte(rest, '<')
			if i < 0 {
				return false
			}
			run := rest[:i]
			if bytes.IndexByte(run, '&') >= 0 || bytes.Contains(run, []byte("]]>")) {
				return false
			}
			text = append(text, run...)
			rest = rest[i:]
			if !bytes.HasPrefix(rest, []byte("<![CDATA[")) {
				break
			}
		}
		if len(rest) < len(name)+3 || rest[1] != '/' || !bytes.Equal(rest[2:2+len(name)], name) || rest[2+len(name)] != '>' {
			return false
		}
		rest = rest[len(name)+3:]
		for i := range fields {
			if fields[i].name == string(name) {
				if fields[i].seen {
					return false
				}
				fields[i].seen = true
				fields[i].value = string(text)
			}
		}
	}
}

func trimXMLSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n') {
		b = b[1:]
	}
	return b
}

func isNameByte(c byte, first bool) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '_' || !first && '0' <= c && c <= '9'
}

// simpleChars reports whether body is valid UTF-8 made only of characters XML
// allows, without '\r' (which parsers rewrite).
func simpleChars(body []byte) bool {
	for i := 0; i < len(body); {
		c := body[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(body[i:])
		if r == utf8.RuneError && size == 1 || r >= 0xD800 && r <= 0xDFFF || r == 0xFFFE || r == 0xFFFF {
			return false
		}
		i += size
	}
	return true
}

func parseXMLTokens(body []byte, fields []xmlField) error {
	d := xml.NewDecoder(bytes.NewReader(body))
	var (
		depth    int
		rootSeen bool
		current  *xmlField
		text     []byte
	)
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return xmlError(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch depth {
			case 1:
				if rootSeen {
					return fmt.Errorf("%w: more than one root element", ErrXML)
				}
				if t.Name.Local != "xml" || t.Name.Space != "" {
					return fmt.Errorf("%w: root element is not <xml>", ErrXML)
				}
				rootSeen = true
			case 2:
				if t.Name.Space != "" {
					break
				}
				for i := range fields {
					if fields[i].name == t.Name.Local {
						if fields[i].seen {
							return fmt.Errorf("%w: repeated <%s>", ErrXML, fields[i].name)
						}
						fields[i].seen = true
						current = &fields[i]
						text = text[:0]
					}
				}
			default:
				if current != nil {
					return fmt.Errorf("%w: <%s> contains elements", ErrXML, current.name)
				}
			}
		case xml.EndElement:
			if depth == 2 && current != nil {
				current.value = string(text)
				current = nil
			}
			depth--
		case xml.CharData:
			switch {
			case current != nil:
				text = append(text, t...)
			case depth == 0 && len(bytes.TrimSpace(t)) != 0:
				return fmt.Errorf("%w: text outside the root element", ErrXML)
			}
		case xml.Directive:
			// No DOCTYPE: WeChat never sends one, and entity declarations are
			// a classic way to smuggle content past a parser.
			return fmt.Errorf("%w: directives are not accepted", ErrXML)
		}
	}
	if !rootSeen {
		return fmt.Errorf("%w: no root element", ErrXML)
	}
	return nil
}

// xmlError keeps the position of a syntax error but drops the decoder's text,
// which can quote pieces of the body.
func xmlError(err error) error {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("%w: syntax error on line %d", ErrXML, se.Line)
	}
	return fmt.Errorf("%w: unreadable", ErrXML)
}

// appendCDATA writes s as CDATA, splitting any "]]>" across two sections so
// that a caller-supplied nonce or timestamp cannot break out of the element.
func appendCDATA(b []byte, s string) []byte {
	b = append(b, "<![CDATA["...)
	for {
		i := strings.Index(s, "]]>")
		if i < 0 {
			break
		}
		b = append(b, s[:i+2]...)
		b = append(b, "]]><![CDATA["...)
		s = s[i+2:]
	}
	b = append(b, s...)
	return append(b, "]]>"...)
}

// appendEscaped writes s as character data.
func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '&':
			b = append(b, "&amp;"...)
		case '<':
			b = append(b, "&lt;"...)
		case '>':
			b = append(b, "&gt;"...)
		default:
			b = append(b, s[i])
		}
	}
	return b
}

// xmlSafe reports whether s is valid UTF-8 made only of characters that XML 1.0
// allows and that parsers hand back unchanged (so no '\r').
func xmlSafe(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n':
		case r < 0x20:
			return false
		case r >= 0xD800 && r <= 0xDFFF, r == 0xFFFE, r == 0xFFFF:
			return false
		}
	}
	return true
}
