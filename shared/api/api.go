// Package api is Relais's API: an http.Handler that speaks CodePipeline's own protocol
// (AWS JSON 1.1, `X-Amz-Target: CodePipeline_20150709.<Operation>`) with its request and
// response shapes and its error types, so that the AWS SDKs, the AWS CLI
// (`aws codepipeline … --endpoint-url`) and `relais` talk to Relais as they would to
// CodePipeline. It reads the stores for what it reports and goes through the execution
// and approval services for what it changes.
package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"unicode"

	"github.com/relais-ci/relais/shared/approval"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/execution"
	"github.com/relais-ci/relais/shared/pipeline"
)

// Protocol constants.
const (
	// TargetPrefix prefixes the operation name in the X-Amz-Target header.
	TargetPrefix = "CodePipeline_20150709."
	// ContentType is the media type of requests and responses.
	ContentType = "application/x-amz-json-1.1"
	// TokenHeader carries the API token when the handler requires one.
	TokenHeader = "X-Relais-Api-Token"
	// UserHeader names the caller, recorded as who stopped, approved or changed a
	// transition; "api" when absent.
	UserHeader = "X-Relais-User"
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes = 1 << 20
)

// ExecutionService starts, stops and retries executions and changes transitions
// (*execution.Service).
type ExecutionService interface {
	Declaration(ctx context.Context, name string) (*pipeline.Declaration, core.Pipeline, error)
	Start(ctx context.Context, r execution.StartRequest) (core.Execution, error)
	Stop(ctx context.Context, pipelineName, id string, mode core.StopMode, reason, by string) (core.Execution, error)
	Retry(ctx context.Context, pipelineName, id, stage string, mode core.RetryMode) (core.Execution, error)
	DisableTransition(ctx context.Context, pipelineName, stage, reason, by string) error
	EnableTransition(ctx context.Context, pipelineName, stage, by string) error
}

// ApprovalService decides manual approvals (*approval.Service).
type ApprovalService interface {
	Decide(ctx context.Context, d approval.Decision) (core.Approval, error)
}

var (
	_ ExecutionService = (*execution.Service)(nil)
	_ ApprovalService  = (*approval.Service)(nil)
)

// Deps are what the API works over.
type Deps struct {
	Service  ExecutionService
	Approval ApprovalService

	Pipelines   core.PipelineStore
	Executions  core.ExecutionStore
	Stages      core.StageStore
	Actions     core.ActionStore
	Transitions core.TransitionStore
	Approvals   core.ApprovalStore
	// Queue, when set, lets GetPipelineState report the executions waiting at each
	// stage's gate (inboundExecutions).
	Queue core.GateQueue

	Clock  core.Clock
	Logger *slog.Logger
}

// Handler answers CodePipeline API requests.
type Handler struct {
	d         Deps
	tokenHash []byte
	arnPrefix string
}

// Option changes optional behaviour of the handler.
type Option func(*Handler)

// WithToken makes every request carry token in the X-Relais-Api-Token header;
// requests without it are refused with 403 AccessDeniedException. An empty token
// requires nothing.
func WithToken(token string) Option {
	return func(h *Handler) {
		if token == "" {
			h.tokenHash = nil
			return
		}
		sum := sha256.Sum256([]byte(token))
		h.tokenHash = sum[:]
	}
}

// WithARNPrefix makes GetPipeline report pipelineArn as prefix+name
// ("arn:aws:codepipeline:us-east-1:123456789012:" on AWS); without it pipelineArn is
// left out.
func WithARNPrefix(prefix string) Option { return func(h *Handler) { h.arnPrefix = prefix } }

// New returns the API handler over d.
func New(d Deps, opts ...Option) *Handler {
	if d.Clock == nil {
		d.Clock = core.SystemClock
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	h := &Handler{d: d}
	for _, o := range opts {
		o(h)
	}
	return h
}

// call is one request's context beyond its body.
type call struct {
	op string
	// user is who the caller says they are (UserHeader), else "api".
	user string
}

type operation func(h *Handler, ctx context.Context, c call, body []byte) (any, error)

// decoded adapts an operation on a decoded request.
func decoded[In any](f func(h *Handler, ctx context.Context, c call, in *In) (any, error)) operation {
	return func(h *Handler, ctx context.Context, c call, body []byte) (any, error) {
		in := new(In)
		if len(bytes.TrimSpace(body)) > 0 {
			if err := json.Unmarshal(body, in); err != nil {
				return nil, apiError("SerializationException", "The request body is not valid JSON for %s: %v", c.op, err)
			}
		}
		return f(h, ctx, c, in)
	}
}

var operations = map[string]operation{
	"ListPipelines":          decoded((*Handler).listPipelines),
	"GetPipeline":            decoded((*Handler).getPipeline),
	"GetPipelineState":       decoded((*Handler).getPipelineState),
	"StartPipelineExecution": decoded((*Handler).startPipelineExecution),
	"StopPipelineExecution":  decoded((*Handler).stopPipelineExecution),
	"GetPipelineExecution":   decoded((*Handler).getPipelineExecution),
	"ListPipelineExecutions": decoded((*Handler).listPipelineExecutions),
	"ListActionExecutions":   decoded((*Handler).listActionExecutions),
	"RetryStageExecution":    decoded((*Handler).retryStageExecution),
	"DisableStageTransition": decoded((*Handler).disableStageTransition),
	"EnableStageTransition":  decoded((*Handler).enableStageTransition),
	"PutApprovalResult":      decoded((*Handler).putApprovalResult),
}

// Operations lists the operations the handler answers.
func Operations() []string {
	names := make([]string, 0, len(operations))
	for name := range operations {
		names = append(names, name)
	}
	return names
}

// ServeHTTP answers one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.tokenHash != nil {
		got := sha256.Sum256([]byte(r.Header.Get(TokenHeader)))
		// Comparing digests keeps the comparison constant-time whatever the lengths.
		if subtle.ConstantTimeCompare(got[:], h.tokenHash) != 1 {
			writeError(w, http.StatusForbidden, "AccessDeniedException", "Missing or wrong API token (header "+TokenHeader+")")
			return
		}
	}
	if r.URL.Path != "/" {
		writeError(w, http.StatusNotFound, "UnknownOperationException", "No operation at "+r.URL.Path+"; requests go to /")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "UnknownOperationException", "Requests are POST")
		return
	}
	target := r.Header.Get("X-Amz-Target")
	name, ok := strings.CutPrefix(target, TargetPrefix)
	op := operations[name]
	if !ok || op == nil {
		writeError(w, http.StatusBadRequest, "UnknownOperationException", fmt.Sprintf("Unknown operation %q", target))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, "ValidationException", fmt.Sprintf("The request body exceeds %d bytes", MaxBodyBytes))
			return
		}
		writeError(w, http.StatusBadRequest, "SerializationException", "Could not read the request body")
		return
	}
	c := call{op: name, user: caller(r)}
	out, err := op(h, r.Context(), c, body)
	if err != nil {
		h.fail(r.Context(), w, c, err)
		return
	}
	data, err := json.Marshal(out)
	if err != nil {
		h.fail(r.Context(), w, c, fmt.Errorf("encode %s response: %w", name, err))
		return
	}
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("X-Amzn-Requestid", requestID())
	w.WriteHeader(http.StatusOK)
	w.Write(data)
}

// caller returns who the request says it comes from: the X-Relais-User header when
// it is a sensible name, else "api".
func caller(r *http.Request) string {
	u := strings.TrimSpace(r.Header.Get(UserHeader))
	if u == "" || len(u) > 128 || strings.ContainsFunc(u, func(c rune) bool { return !unicode.IsPrint(c) }) {
		return "api"
	}
	return u
}

func requestID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Error is an error answered to the client: a CodePipeline error type, a message and
// an HTTP status.
type Error struct {
	Type    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Type + ": " + e.Message }

// apiError returns a client error (HTTP 400) of the given type.
func apiError(typ, format string, args ...any) *Error {
	return &Error{Type: typ, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

func validation(format string, args ...any) *Error {
	return apiError("ValidationException", format, args...)
}

// fail answers err: an *Error as it says; anything else as a 500 whose body says
// nothing of the cause, which is logged.
func (h *Handler) fail(ctx context.Context, w http.ResponseWriter, c call, err error) {
	var e *Error
	if errors.As(err, &e) {
		writeError(w, e.Status, e.Type, e.Message)
		return
	}
	h.d.Logger.ErrorContext(ctx, "api operation failed", "operation", c.op, "err", err)
	writeError(w, http.StatusInternalServerError, "InternalFailure", "The request failed because of an internal error")
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	data, _ := json.Marshal(errorBody{Type: typ, Message: msg})
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("X-Amzn-Errortype", typ)
	w.Header().Set("X-Amzn-Requestid", requestID())
	w.WriteHeader(status)
	w.Write(data)
}

// mapError turns a service error into the operation's error types: ErrInvalid is a
// ValidationException, ErrNotFound and ErrConflict the given types (none: left as an
// internal error). The message is the service's, which names what was wrong.
func mapError(err error, notFound, conflict string) error {
	var e *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e):
		return e
	case errors.Is(err, core.ErrInvalid):
		return validation("%s", err.Error())
	case errors.Is(err, core.ErrNotFound) && notFound != "":
		return apiError(notFound, "%s", err.Error())
	case errors.Is(err, core.ErrConflict) && conflict != "":
		return apiError(conflict, "%s", err.Error())
	}
	return err
}
