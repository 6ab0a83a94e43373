// Package sfnapi serves the AWS Step Functions API (the AWS JSON 1.0 protocol) over Relais's
// Amazon States Language engine, so that the AWS SDKs and CLI can drive local state
// machines: POST / with X-Amz-Target: AWSStepFunctions.<Operation>.
//
// Request and response shapes, ARNs, epoch-second timestamps and error types follow the
// Step Functions API reference. Only the operations listed in Operations are served.
package sfnapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"

	"github.com/relais-ci/relais/shared/asl"
)

// targetPrefix is the service part of X-Amz-Target.
const targetPrefix = "AWSStepFunctions."

// maxBody bounds a request body: a definition is at most 1 MB, an input 256 KB.
const maxBody = 2 << 20

// Handler is the Step Functions API over an asl.Engine. It is safe for concurrent use.
type Handler struct {
	eng *asl.Engine
	log *slog.Logger
	ops map[string]func(h *Handler, r *http.Request, body []byte) (any, error)
}

// Option configures a Handler.
type Option func(*Handler)

// WithLogger sets the logger for internal errors (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(h *Handler) { h.log = l } }

// New returns a Handler serving eng.
func New(eng *asl.Engine, opts ...Option) *Handler {
	h := &Handler{eng: eng, log: slog.Default(), ops: operations}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Operations lists the operations the Handler serves.
func Operations() []string {
	names := make([]string, 0, len(operations))
	for n := range operations {
		names = append(names, n)
	}
	return names
}

// apiError is an error in Step Functions' wire shape: {"__type": …, "message": …}.
type apiError struct {
	status  int
	typ     string
	message string
}

func (e *apiError) Error() string { return e.typ + ": " + e.message }

func errf(typ, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: typ, message: fmt.Sprintf(format, args...)}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		h.writeError(w, r, &apiError{status: http.StatusNotFound, typ: "UnknownOperationException", message: "POST / with an X-Amz-Target header is the only route"})
		return
	}
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, targetPrefix)
	fn := h.ops[op]
	if !ok || fn == nil {
		h.writeError(w, r, errf("UnknownOperationException", "unknown operation %q", target))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		h.writeError(w, r, errf("SerializationException", "read request body: %v", err))
		return
	}
	if len(body) > maxBody {
		h.writeError(w, r, &apiError{status: http.StatusRequestEntityTooLarge, typ: "ValidationException", message: "request body too large"})
		return
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	out, err := fn(h, r, body)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	data, err := json.Marshal(out)
	if err != nil {
		h.writeError(w, r, fmt.Errorf("encode %s response: %w", op, err))
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_, _ = w.Write(data)
}

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		// Never echo internal errors: log them once, here, and answer generically.
		h.log.ErrorContext(r.Context(), "step functions api", "target", r.Header.Get("X-Amz-Target"), "err", err)
		ae = &apiError{status: http.StatusInternalServerError, typ: "InternalFailure", message: "internal error"}
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-ErrorType", ae.typ)
	w.WriteHeader(ae.status)
	data, _ := json.Marshal(map[string]string{"__type": ae.typ, "message": ae.message})
	_, _ = w.Write(data)
}

// decode reads a request into v; a malformed body is a SerializationException.
func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return errf("SerializationException", "malformed request: %v", err)
	}
	return nil
}

func required(field, value string) error {
	if value == "" {
		return errf("ValidationException", "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)
	}
	return nil
}

var (
	machineARNRE   = regexp.MustCompile(`^arn:aws[a-z-]*:states:[a-z0-9-]+:[0-9]{12}:stateMachine:[^:]+$`)
	executionARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:states:[a-z0-9-]+:[0-9]{12}:execution:[^:]+:[^:]+$`)
)

func checkMachineARN(field, arn string) error {
	if err := required(field, arn); err != nil {
		return err
	}
	if !machineARNRE.MatchString(arn) {
		return errf("InvalidArn", "Invalid Arn: 'Resource type not valid in this context: %s'", arn)
	}
	return nil
}

func checkExecutionARN(arn string) error {
	if err := required("executionArn", arn); err != nil {
		return err
	}
	if !executionARNRE.MatchString(arn) {
		return errf("InvalidArn", "Invalid Arn: 'Resource type not valid in this context: %s'", arn)
	}
	return nil
}

// engineError maps an engine error to the API error Step Functions returns for it.
// notFound is the error type for asl.ErrNotFound in this operation's context.
func engineError(err error, notFound string) error {
	var verr *asl.ValidationError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &verr):
		msgs := make([]string, len(verr.Problems))
		for i, p := range verr.Problems {
			msgs[i] = fmt.Sprintf("%s at %s", p.Message, p.Location)
		}
		return errf("InvalidDefinition", "Invalid State Machine Definition: '%s'", strings.Join(msgs, ", "))
	case errors.Is(err, asl.ErrNotFound):
		return errf(notFound, "%s", trimPrefix(err))
	case errors.Is(err, asl.ErrStateMachineAlreadyExists):
		return errf("StateMachineAlreadyExists", "State Machine Already Exists: %s", trimPrefix(err))
	case errors.Is(err, asl.ErrExecutionAlreadyExists):
		return errf("ExecutionAlreadyExists", "Execution Already Exists: %s", trimPrefix(err))
	case errors.Is(err, asl.ErrInvalidName):
		return errf("InvalidName", "Invalid Name: %s", trimPrefix(err))
	case errors.Is(err, asl.ErrTaskTimedOut):
		return errf("TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'")
	case errors.Is(err, asl.ErrInvalidToken):
		return errf("InvalidToken", "Invalid Token: 'Invalid token'")
	case errors.Is(err, asl.ErrExecutionNotRedrivable):
		return errf("ExecutionNotRedrivable", "%s", trimPrefix(err))
	case errors.Is(err, asl.ErrExecutionNotRunning):
		return errf("ValidationException", "%s", trimPrefix(err))
	case errors.Is(err, asl.ErrUnsupported):
		return errf("InvalidDefinition", "%s", trimPrefix(err))
	}
	return err
}

// trimPrefix drops the "asl: " package prefix that sentinel errors carry.
func trimPrefix(err error) string { return strings.ReplaceAll(err.Error(), "asl: ", "") }
