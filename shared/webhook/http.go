package webhook

import (
	"errors"
	"io"
	"net/http"
)

// Path is where GitHub is told to deliver: mount HTTPHandler at "POST " + Path.
const Path = "/webhooks/github"

// HTTPHandler serves the service over net/http: it reads at most MaxBody bytes (more is
// 413 before anything else), hands the delivery to s and writes the decision as JSON.
func HTTPHandler(s *Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var d Decision
		var body []byte
		var err error
		if r.Method == http.MethodPost {
			body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
		}
		var tooBig *http.MaxBytesError
		switch {
		case r.Method != http.MethodPost:
			w.Header().Set("Allow", http.MethodPost)
			d = answer(http.StatusMethodNotAllowed, "deliveries are POSTed")
		case errors.As(err, &tooBig):
			d = answer(http.StatusRequestEntityTooLarge, "body over %d bytes", MaxBody)
		case err != nil:
			d = answer(http.StatusBadRequest, "body could not be read")
		default:
			d = s.Handle(r.Context(), NewRequest(r.Header.Get, body))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(d.Status)
		w.Write(d.JSON())
	})
}
