package lambdaaction

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/aws/s3artifact"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/local/lambdainvoke"
	"github.com/relais-ci/relais/shared/pipeline"
)

const bucket = "relais-artifacts"

// function is what the fake Lambda service does for one function: it gets the event
// and answers with a payload, and a function error when failed is set.
type function func(ev Event) (payload string, failed string)

type fakeLambda struct {
	fns map[string]function

	mu       sync.Mutex
	requests []*http.Request
	events   []Event
}

func (f *fakeLambda) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests = append(f.requests, r)
	f.mu.Unlock()
	name, ok := strings.CutPrefix(r.URL.Path, "/2015-03-31/functions/")
	name, ok2 := strings.CutSuffix(name, "/invocations")
	fn, known := f.fns[name]
	if !ok || !ok2 || r.Method != http.MethodPost || !known {
		w.Header().Set("X-Amzn-Errortype", "ResourceNotFoundException")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"Type":"User","message":"Function not found: `+name+`"}`)
		return
	}
	var ev Event
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.events = append(f.events, ev)
	f.mu.Unlock()
	payload, failed := fn(ev)
	if failed != "" {
		w.Header().Set("X-Amz-Function-Error", failed)
	}
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, payload)
}

type fixture struct {
	fake  *fakeLambda
	s3    *s3.Client
	store *s3artifact.Store
	inv   *Invoker
}

func newFixture(t *testing.T, fns map[string]function) *fixture {
	t.Helper()
	s3srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(s3srv.Close)
	s3c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(s3srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""), RetryMaxAttempts: 1})
	if _, err := s3c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	fake := &fakeLambda{fns: fns}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	lc := lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""), RetryMaxAttempts: 1})
	store := s3artifact.New(s3c, s3.NewPresignClient(s3c), bucket, s3artifact.WithPrefix("artifacts"))
	inv := New(Deps{Client: lc, Artifacts: store, Bucket: bucket, Prefix: "artifacts", AccountID: "123456789012"})
	return &fixture{fake: fake, s3: s3c, store: store, inv: inv}
}

func (f *fixture) job(t *testing.T, cfg map[string]string, outs ...string) action.Job {
	t.Helper()
	loc, err := f.store.PutArtifact(t.Context(), "web", "exec-1", "BuildOutput", strings.NewReader("zip"))
	if err != nil {
		t.Fatal(err)
	}
	j := action.Job{Stage: "Test",
		Declared: pipeline.Action{Name: "Check", ActionTypeID: pipeline.ActionTypeID{Category: "Invoke", Owner: "AWS", Provider: "Lambda", Version: "1"},
			InputArtifacts: []pipeline.Artifact{{Name: "BuildOutput"}}},
		Record: core.ActionExecution{ID: "act-1", PipelineName: "web", ExecutionID: "exec-1", StageName: "Test", ActionName: "Check",
			Configuration: cfg, InputArtifacts: []core.Artifact{{Name: "BuildOutput", Location: loc}}},
	}
	for _, o := range outs {
		j.Declared.OutputArtifacts = append(j.Declared.OutputArtifacts, pipeline.Artifact{Name: o})
	}
	return j
}

func TestRunEvent(t *testing.T) {
	var f *fixture
	f = newFixture(t, map[string]function{
		"report": func(ev Event) (string, string) {
			// The function writes its output artifact where the event says.
			o := ev.Job.Data.OutputArtifacts[0].Location.S3Location
			if _, err := f.s3.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(o.BucketName), Key: aws.String(o.ObjectKey),
				Body: strings.NewReader("report zip")}); err != nil {
				t.Error(err)
			}
			return `{"outputVariables": {"score": "97"}, "summary": "checked 12 pages", "extra": true}`, ""
		},
	})
	res, err := f.inv.Run(t.Context(), f.job(t, map[string]string{"FunctionName": "report", "UserParameters": `{"env":"prod"}`}, "Report"))
	if err != nil {
		t.Fatal(err)
	}
	want := action.Result{
		Status: core.ActionSucceeded, OutputVariables: map[string]string{"score": "97"}, Summary: "checked 12 pages", ExternalID: "act-1",
		OutputArtifacts: []core.Artifact{{Name: "Report", Location: core.ArtifactLocation{Store: bucket, Key: "artifacts/web/exec-1/Report.zip"}}},
	}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	r := f.fake.requests[0]
	if got := r.Header.Get("X-Amz-Invocation-Type"); got != "RequestResponse" {
		t.Errorf("got invocation type %q, want RequestResponse", got)
	}
	wantEv := Event{Job: Job{ID: "act-1", AccountID: "123456789012", Data: JobData{
		ActionConfiguration: ActionConfiguration{Configuration: map[string]string{"FunctionName": "report", "UserParameters": `{"env":"prod"}`}},
		InputArtifacts: []Artifact{{Name: "BuildOutput", Location: Location{Type: "S3",
			S3Location: S3Location{BucketName: bucket, ObjectKey: "artifacts/web/exec-1/BuildOutput.zip"}}}},
		OutputArtifacts: []Artifact{{Name: "Report", Location: Location{Type: "S3",
			S3Location: S3Location{BucketName: bucket, ObjectKey: "artifacts/web/exec-1/Report.zip"}}}},
	}}}
	if diff := cmp.Diff(wantEv, f.fake.events[0]); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}
}

// TestEventShape checks that the event has the shape of the local twin's: a function
// reads the same JSON on AWS and under relais serve.
func TestEventShape(t *testing.T) {
	ev := Event{Job: Job{ID: "j", AccountID: "1", Data: JobData{
		ActionConfiguration: ActionConfiguration{Configuration: map[string]string{"FunctionName": "f"}},
		InputArtifacts:      []Artifact{{Name: "in", Location: Location{Type: "S3", S3Location: S3Location{BucketName: "b", ObjectKey: "k"}}}},
		OutputArtifacts:     []Artifact{},
	}}}
	ours, _ := json.Marshal(ev)
	var local lambdainvoke.Event
	dec := json.NewDecoder(bytes.NewReader(ours))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&local); err != nil {
		t.Fatalf("the local twin cannot read our event: %v", err)
	}
	theirs, _ := json.Marshal(local)
	if !bytes.Equal(ours, theirs) {
		t.Errorf("events differ:\n ours   %s\n theirs %s", ours, theirs)
	}
}

func TestRunOutcomes(t *testing.T) {
	fns := map[string]function{
		"null": func(Event) (string, string) { return "null", "" },
		"text": func(Event) (string, string) { return `"done"`, "" },
		"details": func(Event) (string, string) {
			return `{"executionDetails": {"summary": "deployed v2", "externalExecutionId": "dep-7"}}`, ""
		},
		"boom": func(Event) (string, string) {
			return `{"errorMessage": "database unreachable", "errorType": "Error", "trace": []}`, "Unhandled"
		},
		"badvars": func(Event) (string, string) { return `{"outputVariables": ["a"]}`, "" },
	}
	tests := []struct {
		fn, out                string
		wantStatus             core.ActionStatus
		wantSummary, wantError string
		wantExtID              string
	}{
		{fn: "null", wantStatus: core.ActionSucceeded, wantSummary: "Function null succeeded", wantExtID: "act-1"},
		{fn: "text", wantStatus: core.ActionSucceeded, wantSummary: "Function text succeeded", wantExtID: "act-1"},
		{fn: "details", wantStatus: core.ActionSucceeded, wantSummary: "deployed v2", wantExtID: "dep-7"},
		{fn: "boom", wantStatus: core.ActionFailed, wantError: "function boom failed (Unhandled): Error: database unreachable"},
		{fn: "badvars", wantStatus: core.ActionFailed, wantError: "its result is not"},
		{fn: "missing", wantStatus: core.ActionFailed, wantError: "Function not found"},
		{fn: "null", out: "Report", wantStatus: core.ActionFailed, wantError: "output artifact Report was not written to s3://relais-artifacts/artifacts/web/exec-1/Report.zip"},
		{fn: "", wantStatus: core.ActionFailed, wantError: "FunctionName is required"},
	}
	for _, tt := range tests {
		t.Run(tt.fn+tt.out, func(t *testing.T) {
			f := newFixture(t, fns)
			var outs []string
			if tt.out != "" {
				outs = append(outs, tt.out)
			}
			res, err := f.inv.Run(t.Context(), f.job(t, map[string]string{"FunctionName": tt.fn}, outs...))
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tt.wantStatus {
				t.Fatalf("got status %s (%+v), want %s", res.Status, res.Error, tt.wantStatus)
			}
			if tt.wantError != "" && (res.Error == nil || !strings.Contains(res.Error.Message, tt.wantError)) {
				t.Errorf("got error %+v, want one with %q", res.Error, tt.wantError)
			}
			if tt.wantSummary != "" && res.Summary != tt.wantSummary {
				t.Errorf("got summary %q, want %q", res.Summary, tt.wantSummary)
			}
			if tt.wantExtID != "" && res.ExternalID != tt.wantExtID {
				t.Errorf("got external id %q, want %q", res.ExternalID, tt.wantExtID)
			}
		})
	}
}
