package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Fault is trouble injected into one endpoint's answers.
//
// What happens to a call the fault applies to: first Delay (wall-clock time,
// because it is latency seen by the client's own timeouts); then Drop closes
// the connection without an answer; else HTTPStatus answers that status (with
// a gateway's HTML page, or with the errcode JSON when ErrCode is set too);
// else ErrCode answers HTTP 200 with that errcode. A fault with only a Delay
// slows the call down and lets it through.
//
// Which calls it applies to: with Probability in (0, 1], each call with that
// chance; with Count > 0, the next Count calls it applies to, after which it
// is removed; with neither, every call until cleared.
//
// By default the call does not reach the emulator's logic (nothing is
// minted). With AfterHandling the call takes effect first and only its
// answer is replaced — WeChat minted a token that the client never saw.
type Fault struct {
	ErrCode       int
	HTTPStatus    int
	Delay         time.Duration
	Drop          bool
	Probability   float64
	Count         int
	AfterHandling bool
}

// acts reports whether the fault replaces the answer (rather than only
// delaying it).
func (f Fault) acts() bool { return f.Drop || f.HTTPStatus != 0 || f.ErrCode != 0 }

func (f Fault) validate() error {
	switch {
	case f.HTTPStatus != 0 && (f.HTTPStatus < 400 || f.HTTPStatus > 599):
		return errors.New("http_status must be a 4xx or 5xx status")
	case f.Delay < 0 || f.Delay > 10*time.Minute:
		return errors.New("delay must be between 0 and 10m")
	case f.Probability < 0 || f.Probability > 1:
		return errors.New("probability must be between 0 and 1")
	case f.Count < 0:
		return errors.New("count must not be negative")
	case !f.acts() && f.Delay == 0:
		return errors.New("a fault needs errcode, http_status, drop or delay")
	}
	return nil
}

// faultJSON is Fault on the wire, with the delay as a Go duration ("1.5s").
type faultJSON struct {
	Endpoint      string  `json:"endpoint,omitempty"`
	ErrCode       int     `json:"errcode,omitempty"`
	HTTPStatus    int     `json:"http_status,omitempty"`
	Delay         string  `json:"delay,omitempty"`
	Drop          bool    `json:"drop,omitempty"`
	Probability   float64 `json:"probability,omitempty"`
	Count         int     `json:"count,omitempty"`
	AfterHandling bool    `json:"after_handling,omitempty"`
}

func (f Fault) MarshalJSON() ([]byte, error) {
	j := faultJSON{ErrCode: f.ErrCode, HTTPStatus: f.HTTPStatus, Drop: f.Drop, Probability: f.Probability, Count: f.Count, AfterHandling: f.AfterHandling}
	if f.Delay > 0 {
		j.Delay = f.Delay.String()
	}
	return json.Marshal(j)
}

func (f *Fault) UnmarshalJSON(b []byte) error {
	var j faultJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	return f.fromJSON(j)
}

func (f *Fault) fromJSON(j faultJSON) error {
	*f = Fault{ErrCode: j.ErrCode, HTTPStatus: j.HTTPStatus, Drop: j.Drop, Probability: j.Probability, Count: j.Count, AfterHandling: j.AfterHandling}
	if j.Delay != "" {
		d, err := time.ParseDuration(j.Delay)
		if err != nil {
			return fmt.Errorf("delay: %w", err)
		}
		f.Delay = d
	}
	return nil
}

// faultSet holds the faults by endpoint name; "*" applies to every endpoint
// without its own fault.
type faultSet struct {
	active atomic.Int32 // len(m), read without the lock on the hot path
	mu     sync.Mutex
	m      map[string]*Fault
}

// SetFault injects f into endpoint's answers ("api_authorizer_token",
// "message/custom/send", … as listed by Endpoints; "*" for all of them),
// replacing its previous fault. An invalid fault is ignored and logged; the
// control endpoint reports it instead.
func (e *Emulator) SetFault(endpoint string, f Fault) {
	if err := e.setFault(endpoint, f); err != nil {
		e.log.Warn("emulator: fault ignored", "endpoint", endpoint, "err", err)
	}
}

func (e *Emulator) setFault(endpoint string, f Fault) error {
	if err := f.validate(); err != nil {
		return err
	}
	if endpoint != "*" && !e.knownEndpoint(endpoint) {
		return fmt.Errorf("unknown endpoint %q", endpoint)
	}
	s := &e.faults
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*Fault{}
	}
	s.m[endpoint] = &f
	s.active.Store(int32(len(s.m)))
	return nil
}

func (e *Emulator) knownEndpoint(name string) bool {
	for _, ep := range e.routes {
		if ep.name == name {
			return true
		}
	}
	return false
}

// ClearFault removes endpoint's fault.
func (e *Emulator) ClearFault(endpoint string) {
	s := &e.faults
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, endpoint)
	s.active.Store(int32(len(s.m)))
}

// ClearFaults removes every fault.
func (e *Emulator) ClearFaults() {
	s := &e.faults
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.m)
	s.active.Store(0)
}

// Faults returns the faults in place, by endpoint (Count is what is left).
func (e *Emulator) Faults() map[string]Fault {
	s := &e.faults
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Fault, len(s.m))
	for k, f := range s.m {
		out[k] = *f
	}
	return out
}

// take decides whether a call of endpoint gets a fault, and uses up one of
// its Count.
func (s *faultSet) take(endpoint string) (Fault, bool) {
	if s.active.Load() == 0 {
		return Fault{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := endpoint
	f, ok := s.m[key]
	if !ok {
		key = "*"
		if f, ok = s.m[key]; !ok {
			return Fault{}, false
		}
	}
	if f.Probability > 0 && rand.Float64() >= f.Probability {
		return Fault{}, false
	}
	if f.Count > 0 {
		f.Count--
		if f.Count == 0 {
			delete(s.m, key)
			s.active.Store(int32(len(s.m)))
		}
	}
	return *f, true
}

const gatewayPage = "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"

func (e *Emulator) writeFault(w http.ResponseWriter, endpoint string, f Fault) {
	switch {
	case f.Drop:
		e.counters.add(endpoint, outcomeDropped)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		// net/http's own way to abort a response without answering.
		panic(http.ErrAbortHandler)
	case f.HTTPStatus != 0:
		e.counters.add(endpoint, outcomeHTTP(f.HTTPStatus))
		if f.ErrCode != 0 {
			writeJSONStatus(w, f.HTTPStatus, e.errorBody(&apiError{code: f.ErrCode, msg: errmsgOf(f.ErrCode)}))
			return
		}
		text := http.StatusText(f.HTTPStatus)
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(f.HTTPStatus)
		fmt.Fprintf(w, gatewayPage, f.HTTPStatus, text, f.HTTPStatus, text)
	default:
		e.counters.add(endpoint, outcomeCode(f.ErrCode))
		e.writeError(w, &apiError{code: f.ErrCode, msg: errmsgOf(f.ErrCode)})
	}
}

func errmsgOf(code int) string {
	if m, ok := errmsgs[code]; ok {
		return m
	}
	return "errcode " + strconv.Itoa(code)
}
