package snsnotify

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/core"
)

const (
	defaultTopic  = "arn:aws:sns:us-east-1:123456789012:relais"
	approvalTopic = "arn:aws:sns:us-east-1:123456789012:approvers"
)

// endpoint is an SNS Query API endpoint that records the Publish requests it gets and
// answers as SNS does: a PublishResponse, or an ErrorResponse for unknown topics.
type endpoint struct {
	mu    sync.Mutex
	forms []url.Values
}

func (e *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		http.Error(w, "want a form POST", http.StatusBadRequest)
		return
	}
	e.mu.Lock()
	e.forms = append(e.forms, r.PostForm)
	n := len(e.forms)
	e.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	if topic := r.PostForm.Get("TopicArn"); topic != defaultTopic && topic != approvalTopic {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>NotFound</Code><Message>Topic does not exist</Message></Error><RequestId>req-%d</RequestId></ErrorResponse>`, n)
		return
	}
	fmt.Fprintf(w, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>msg-%d</MessageId></PublishResult><ResponseMetadata><RequestId>req-%d</RequestId></ResponseMetadata></PublishResponse>`, n, n)
}

func (e *endpoint) last(t *testing.T) url.Values {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.forms) == 0 {
		t.Fatal("no request reached the endpoint")
	}
	return e.forms[len(e.forms)-1]
}

func newNotifier(t *testing.T, topic string) (*Notifier, *endpoint) {
	t.Helper()
	ep := &endpoint{}
	srv := httptest.NewServer(ep)
	t.Cleanup(srv.Close)
	client := sns.New(sns.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		RetryMaxAttempts: 1,
	})
	return New(client, topic), ep
}

// attrs reads MessageAttributes.entry.N.* back into name → "DataType:StringValue".
func attrs(form url.Values) map[string]string {
	out := map[string]string{}
	for i := 1; ; i++ {
		p := fmt.Sprintf("MessageAttributes.entry.%d.", i)
		name := form.Get(p + "Name")
		if name == "" {
			return out
		}
		out[name] = form.Get(p+"Value.DataType") + ":" + form.Get(p+"Value.StringValue")
	}
}

func TestNotify(t *testing.T) {
	ctx := t.Context()
	approval := core.Notification{
		Kind: core.NotifyApprovalRequested, PipelineName: "build", ExecutionID: "e1",
		StageName: "Approve", ActionName: "Manual", Topic: approvalTopic,
		Subject: "Approval needed: build / Approve", Text: "Please review.\nApprove: https://relais.example/a/x\n",
		Attrs: map[string]string{"approvalId": "ap1", "empty": ""},
	}
	n, ep := newNotifier(t, defaultTopic)
	if err := n.Notify(ctx, approval); err != nil {
		t.Fatalf("notify: %v", err)
	}
	form := ep.last(t)
	for k, want := range map[string]string{
		"Action": "Publish", "Version": "2010-03-31", "TopicArn": approvalTopic,
		"Subject": "Approval needed: build / Approve",
		"Message": "Please review.\nApprove: https://relais.example/a/x\n\nPipeline: build\nExecution: e1\nStage: Approve\nAction: Manual\n",
	} {
		if got := form.Get(k); got != want {
			t.Errorf("%s: got %q, want %q", k, got, want)
		}
	}
	wantAttrs := map[string]string{
		"kind": "String:ApprovalRequested", "pipeline": "String:build", "execution": "String:e1", "approvalId": "String:ap1",
	}
	if diff := cmp.Diff(wantAttrs, attrs(form)); diff != "" {
		t.Errorf("message attributes (-want +got):\n%s", diff)
	}

	t.Run("default topic", func(t *testing.T) {
		ended := core.Notification{Kind: core.NotifyExecutionEnded, PipelineName: "build", Subject: "build: Succeeded", Text: "ok"}
		if err := n.Notify(ctx, ended); err != nil {
			t.Fatalf("notify: %v", err)
		}
		if got := ep.last(t).Get("TopicArn"); got != defaultTopic {
			t.Errorf("TopicArn: got %q, want %q", got, defaultTopic)
		}
	})

	t.Run("no topic is unavailable", func(t *testing.T) {
		none, _ := newNotifier(t, "")
		err := none.Notify(ctx, core.Notification{Kind: core.NotifyExecutionEnded, PipelineName: "build"})
		if !errors.Is(err, core.ErrUnavailable) {
			t.Errorf("got error %v, want ErrUnavailable", err)
		}
	})

	t.Run("a missing topic is not found", func(t *testing.T) {
		missing := approval
		missing.Topic = "arn:aws:sns:us-east-1:123456789012:gone"
		if err := n.Notify(ctx, missing); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("got error %v, want ErrNotFound", err)
		}
	})
}

func TestSubject(t *testing.T) {
	long := strings.Repeat("word ", 40)
	for _, tt := range []struct{ in, want string }{
		{"build: Succeeded", "build: Succeeded"},
		{"  line one\r\nline\ttwo  ", "line one line two"},
		{"déploiement réussi ✓", "d?ploiement r?ussi ?"},
		{"", "Relais notification"},
		{"\n\t", "Relais notification"},
		{long, strings.TrimRight(long[:96], " ") + "..."},
	} {
		got := Subject(tt.in)
		if got != tt.want {
			t.Errorf("Subject(%q): got %q, want %q", tt.in, got, tt.want)
		}
		if len(got) >= 100 {
			t.Errorf("Subject(%q): got %d characters, want fewer than 100", tt.in, len(got))
		}
	}
}

func TestLimits(t *testing.T) {
	many := map[string]string{"AWS.reserved": "x", "bad name": "x", "a..b": "x"}
	for i := range 20 {
		many[fmt.Sprintf("attr%02d", i)] = "v"
	}
	n := core.Notification{Kind: "k", PipelineName: "p", ExecutionID: "e", Attrs: many, Text: strings.Repeat("é", 200<<10)}
	got := attributes(n)
	if len(got) != maxAttributes {
		t.Errorf("got %d attributes, want %d", len(got), maxAttributes)
	}
	for _, name := range []string{"kind", "pipeline", "execution", "attr00", "attr06"} {
		if _, ok := got[name]; !ok {
			t.Errorf("attribute %s missing from %v", name, got)
		}
	}
	for _, name := range []string{"AWS.reserved", "bad name", "a..b", "attr07"} {
		if _, ok := got[name]; ok {
			t.Errorf("attribute %s kept, want it left out", name)
		}
	}
	msg := body(n, maxMessage-attrSize(got))
	if len(msg)+attrSize(got) > maxMessage || !strings.HasSuffix(msg, "[truncated]") || !utf8.ValidString(msg) {
		t.Errorf("body of a 400 KB text: got %d bytes (valid UTF-8: %v), want at most %d, cut and marked", len(msg), utf8.ValidString(msg), maxMessage)
	}
}
