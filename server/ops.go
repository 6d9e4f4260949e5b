package server

import (
	_ "embed"
	"net/http"

	"github.com/wxtoken/wxtoken/engine"
)

//go:embed openapi.json
var openAPIDocument []byte

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Type"] = headerJSON
	h["X-Content-Type-Options"] = headerNoSniff
	_, _ = w.Write(openAPIDocument)
}

// handleHealthz answers while the process can serve HTTP at all: liveness,
// not readiness, so that a missing ticket never gets the process restarted.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeText(w, http.StatusOK, "ok")
}

type readiness struct {
	Ready    bool             `json:"ready"`
	Problems []engine.Problem `json:"problems,omitempty"`
}

// handleReadyz reports what stops this replica from serving tokens: the
// store, the ticket, the component token.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	problems := s.eng.Health(r.Context())
	if len(problems) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, readiness{Ready: false, Problems: problems})
		return
	}
	writeJSON(w, http.StatusOK, readiness{Ready: true})
}
