package awse2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/uuid"

	"github.com/relais-ci/relais/shared/local/buildrunner"
)

// codeBuild is CodeBuild for the run (AWS JSON 1.1, CodeBuild_20161006.<Operation>):
// StartBuild checks the request as the SDK sends it and answers as CodeBuild does, then
// the build runs its buildspec with Relais's build runner over the source it downloads
// from S3, uploads its artifact where the artifacts override says, and EventBridge
// delivers the "CodeBuild Build State Change" event to the events function (the
// stack's rule: ended builds of its projects). BatchGetBuilds and StopBuild answer
// about the builds.
type codeBuild struct {
	t        *testing.T
	srv      *httptest.Server
	s3       *s3.Client
	lambda   *lambda.Client
	region   string
	account  string
	projects map[string]bool
	// target is the function the build state change rule invokes.
	target string
	dir    string

	mu     sync.Mutex
	starts []startBuild            // StartBuild requests, as received
	builds map[string]*buildRecord // by id
	tokens map[string]string       // idempotency token → build id
	bad    []string                // requests refused as malformed
	sent   [][]byte                // build state change events sent
	wg     sync.WaitGroup
}

// startBuild is StartBuild's request: only the members Relais may send are known, so
// that anything else is refused as the fake cannot honour it.
type startBuild struct {
	ProjectName                     string               `json:"projectName"`
	IdempotencyToken                string               `json:"idempotencyToken,omitempty"`
	SourceTypeOverride              string               `json:"sourceTypeOverride,omitempty"`
	SourceLocationOverride          string               `json:"sourceLocationOverride,omitempty"`
	SourceVersion                   string               `json:"sourceVersion,omitempty"`
	SecondarySourcesOverride        []json.RawMessage    `json:"secondarySourcesOverride,omitempty"`
	SecondarySourcesVersionOverride []json.RawMessage    `json:"secondarySourcesVersionOverride,omitempty"`
	ArtifactsOverride               *projectArtifacts    `json:"artifactsOverride,omitempty"`
	SecondaryArtifactsOverride      []projectArtifacts   `json:"secondaryArtifactsOverride,omitempty"`
	EnvironmentVariablesOverride    []buildrunner.EnvVar `json:"environmentVariablesOverride,omitempty"`
}

type projectArtifacts struct {
	Type               string `json:"type"`
	Location           string `json:"location,omitempty"`
	Path               string `json:"path,omitempty"`
	NamespaceType      string `json:"namespaceType,omitempty"`
	Name               string `json:"name,omitempty"`
	Packaging          string `json:"packaging,omitempty"`
	ArtifactIdentifier string `json:"artifactIdentifier,omitempty"`
}

// buildRecord is one build, as BatchGetBuilds reports it.
type buildRecord struct {
	ID, ARN, Project string
	Number           int64
	Status           string
	Phase            string
	Start, End       time.Time
	Request          startBuild
	Exported         map[string]string
	Phases           []buildrunner.PhaseResult
	Log              string
	ArtifactLocation string // arn:aws:s3:::bucket/key
	cancel           context.CancelFunc
}

func newCodeBuild(t *testing.T, calls *callLog, s3c *s3.Client, lc *lambda.Client, region, account, target string, projects ...string) *codeBuild {
	c := &codeBuild{t: t, s3: s3c, lambda: lc, region: region, account: account, target: target, dir: t.TempDir(),
		projects: map[string]bool{}, builds: map[string]*buildRecord{}, tokens: map[string]string{}}
	for _, p := range projects {
		c.projects[p] = true
	}
	c.srv = httptest.NewServer(calls.wrap(describeCodeBuild, c))
	t.Cleanup(func() {
		c.mu.Lock()
		for _, b := range c.builds {
			if b.cancel != nil {
				b.cancel()
			}
		}
		c.mu.Unlock()
		c.wg.Wait()
		c.srv.Close()
	})
	return c
}

func (c *codeBuild) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "CodeBuild_20161006.")
	if r.Method != http.MethodPost || r.URL.Path != "/" || !ok || r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		c.refuse(w, "UnknownOperationException", fmt.Sprintf("%s %s target %q content type %q", r.Method, r.URL.Path, r.Header.Get("X-Amz-Target"), r.Header.Get("Content-Type")))
		return
	}
	if msg := checkSigned(r, c.region, "codebuild"); msg != "" {
		c.refuse(w, "InvalidSignatureException", msg)
		return
	}
	body, _ := io.ReadAll(r.Body)
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var out any
	var err error
	switch op {
	case "StartBuild":
		var in startBuild
		if err = dec.Decode(&in); err == nil {
			out, err = c.start(in)
		}
	case "BatchGetBuilds":
		var in struct {
			IDs []string `json:"ids"`
		}
		if err = dec.Decode(&in); err == nil {
			out = c.batchGet(in.IDs)
		}
	case "StopBuild":
		var in struct {
			ID string `json:"id"`
		}
		if err = dec.Decode(&in); err == nil {
			out, err = c.stop(in.ID)
		}
	default:
		err = &apiError{"UnknownOperationException", "operation " + op + " is not served"}
	}
	if err != nil {
		typ, msg := "InvalidInputException", err.Error()
		if ae, ok := err.(*apiError); ok {
			typ, msg = ae.typ, ae.msg
		}
		c.refuse(w, typ, msg)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}

type apiError struct{ typ, msg string }

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

func (c *codeBuild) refuse(w http.ResponseWriter, typ, msg string) {
	c.mu.Lock()
	c.bad = append(c.bad, typ+": "+msg)
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}

// start answers StartBuild and starts the build.
func (c *codeBuild) start(in startBuild) (any, error) {
	if !c.projects[in.ProjectName] {
		return nil, &apiError{"ResourceNotFoundException", fmt.Sprintf("Project cannot be found: arn:aws:codebuild:%s:%s:project/%s", c.region, c.account, in.ProjectName)}
	}
	if in.SourceTypeOverride != "S3" || in.SourceLocationOverride == "" {
		return nil, &apiError{"InvalidInputException", "this CodeBuild runs S3 sources only: sourceTypeOverride S3 with a sourceLocationOverride"}
	}
	if len(in.SecondarySourcesOverride) > 0 || len(in.SecondaryArtifactsOverride) > 0 {
		return nil, &apiError{"InvalidInputException", "secondary sources and artifacts are not run by this CodeBuild"}
	}
	if a := in.ArtifactsOverride; a != nil && a.Type == "S3" && (a.Location == "" || a.Name == "" || a.Packaging != "ZIP" || a.NamespaceType != "NONE") {
		return nil, &apiError{"InvalidInputException", fmt.Sprintf("artifactsOverride %+v: want an S3 location, a name, ZIP packaging and no namespace", *a)}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.starts = append(c.starts, in)
	if id, ok := c.tokens[in.IdempotencyToken]; ok && in.IdempotencyToken != "" {
		return map[string]any{"build": c.builds[id].wire()}, nil
	}
	var number int64 = 1
	for _, b := range c.builds {
		if b.Project == in.ProjectName {
			number++
		}
	}
	id := in.ProjectName + ":" + uuid.NewString()
	b := &buildRecord{
		ID: id, ARN: fmt.Sprintf("arn:aws:codebuild:%s:%s:build/%s", c.region, c.account, id), Project: in.ProjectName,
		Number: number, Status: "IN_PROGRESS", Phase: "SUBMITTED", Start: time.Now().UTC(), Request: in,
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	c.builds[id] = b
	if in.IdempotencyToken != "" {
		c.tokens[in.IdempotencyToken] = id
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.run(ctx, b)
	}()
	return map[string]any{"build": b.wire()}, nil
}

func (c *codeBuild) stop(id string) (any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.builds[id]
	if b == nil {
		return nil, &apiError{"ResourceNotFoundException", "Build " + id + " does not exist"}
	}
	b.cancel()
	return map[string]any{"build": b.wire()}, nil
}

func (c *codeBuild) batchGet(ids []string) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	builds, missing := []any{}, []string{}
	for _, id := range ids {
		if b := c.builds[id]; b != nil {
			builds = append(builds, b.wire())
		} else {
			missing = append(missing, id)
		}
	}
	return map[string]any{"builds": builds, "buildsNotFound": missing}
}

// wire is the Build structure of CodeBuild's API (epoch-second timestamps).
func (b *buildRecord) wire() map[string]any {
	m := map[string]any{
		"id": b.ID, "arn": b.ARN, "buildNumber": b.Number, "projectName": b.Project,
		"buildStatus": b.Status, "currentPhase": b.Phase, "buildComplete": b.Status != "IN_PROGRESS",
		"startTime": float64(b.Start.UnixMilli()) / 1000, "initiator": "relais-action",
		"source":        map[string]any{"type": "S3", "location": b.Request.SourceLocationOverride},
		"sourceVersion": b.Request.SourceVersion,
		"logs": map[string]any{"groupName": "/aws/codebuild/" + b.Project, "streamName": strings.TrimPrefix(b.ID, b.Project+":"),
			"deepLink": "https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logEvent:group=/aws/codebuild/" + b.Project},
	}
	if !b.End.IsZero() {
		m["endTime"] = float64(b.End.UnixMilli()) / 1000
	}
	var exported []map[string]string
	for k, v := range b.Exported {
		exported = append(exported, map[string]string{"name": k, "value": v})
	}
	if exported != nil {
		m["exportedEnvironmentVariables"] = exported
	}
	return m
}

// run is the build: download the source, run the buildspec, upload the artifact, and
// tell EventBridge that the build ended.
func (c *codeBuild) run(ctx context.Context, b *buildRecord) {
	uid := strings.TrimPrefix(b.ID, b.Project+":")
	ws := filepath.Join(c.dir, uid)
	res, err := c.build(ctx, b, uid, ws)
	c.mu.Lock()
	b.End = time.Now().UTC()
	b.Phase = "COMPLETED"
	switch {
	case err != nil:
		b.Status = "FAULT"
		b.Log += "\n[fake CodeBuild] " + err.Error()
	default:
		b.Status = string(res.Status)
		b.Exported = res.ExportedVariables
		b.Phases = res.Phases
	}
	c.mu.Unlock()
	if err := c.emit(b); err != nil {
		c.t.Errorf("deliver the build state change of %s: %v", b.ID, err)
	}
}

func (c *codeBuild) build(ctx context.Context, b *buildRecord, uid, ws string) (*buildrunner.Result, error) {
	if err := os.MkdirAll(ws, 0o755); err != nil {
		return nil, err
	}
	bucket, key, ok := strings.Cut(b.Request.SourceLocationOverride, "/")
	if !ok {
		return nil, fmt.Errorf("source location %q is not bucket/key", b.Request.SourceLocationOverride)
	}
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if v := b.Request.SourceVersion; v != "" {
		in.VersionId = aws.String(v)
	}
	obj, err := c.s3.GetObject(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("download source s3://%s/%s (version %q): %w", bucket, key, b.Request.SourceVersion, err)
	}
	src := filepath.Join(ws, "source.zip")
	data, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(src, data, 0o644); err != nil {
		return nil, err
	}
	var log bytes.Buffer
	runner := buildrunner.New(buildrunner.WithIDs(func() string { return uid }))
	res, err := runner.Run(ctx, buildrunner.Request{
		Workspace: filepath.Join(ws, "work"), Source: src, Project: b.Project, BuildNumber: b.Number,
		SourceVersion: b.Request.SourceVersion, ResolvedSourceVersion: b.Request.SourceVersion,
		Initiator: "relais-action", Region: c.region, AccountID: c.account,
		Overrides: b.Request.EnvironmentVariablesOverride, OutDir: filepath.Join(ws, "out"), Log: &log,
	})
	c.mu.Lock()
	b.Log = log.String()
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if res.Status != buildrunner.StatusSucceeded {
		return res, nil
	}
	a := b.Request.ArtifactsOverride
	if a == nil || a.Type == "NO_ARTIFACTS" {
		return res, nil
	}
	if len(res.Artifacts) == 0 {
		return nil, fmt.Errorf("the buildspec made no artifact, the override wants one")
	}
	zipped, err := os.ReadFile(res.Artifacts[0].Path)
	if err != nil {
		return nil, err
	}
	okey := strings.TrimPrefix(strings.TrimSuffix(a.Path, "/")+"/"+a.Name, "/")
	if _, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(a.Location), Key: aws.String(okey), Body: bytes.NewReader(zipped)}); err != nil {
		return nil, fmt.Errorf("upload artifact to s3://%s/%s: %w", a.Location, okey, err)
	}
	c.mu.Lock()
	b.ArtifactLocation = "arn:aws:s3:::" + a.Location + "/" + okey
	c.mu.Unlock()
	return res, nil
}

// emit sends the build's state change as EventBridge does to the rule's target: an
// asynchronous invocation of the events function with the event of the CodeBuild user
// guide's "Build notifications input format reference".
func (c *codeBuild) emit(b *buildRecord) error {
	c.mu.Lock()
	env := []map[string]string{}
	for _, v := range b.Request.EnvironmentVariablesOverride {
		typ := string(v.Type)
		if typ == "" {
			typ = "PLAINTEXT"
		}
		env = append(env, map[string]string{"name": v.Name, "type": typ, "value": v.Value})
	}
	phases := []map[string]any{}
	for _, p := range b.Phases {
		ctxs := []string{}
		for _, pc := range p.Contexts {
			ctxs = append(ctxs, pc.StatusCode+": "+pc.Message)
		}
		ph := map[string]any{"phase-type": p.Type, "phase-context": ctxs, "start-time": p.Start.Format("Jan 2, 2006 3:04:05 PM")}
		if p.Status != "" {
			ph["phase-status"] = p.Status
			ph["end-time"] = p.End.Format("Jan 2, 2006 3:04:05 PM")
			ph["duration-in-seconds"] = p.DurationSeconds
		}
		phases = append(phases, ph)
	}
	info := map[string]any{
		"environment": map[string]any{
			"image": "aws/codebuild/amazonlinux-aarch64-standard:3.0", "privileged-mode": false,
			"compute-type": "BUILD_GENERAL1_SMALL", "type": "ARM_CONTAINER", "environment-variables": env,
		},
		"timeout-in-minutes": 60, "build-complete": true, "build-number": b.Number, "initiator": "relais-action",
		"build-start-time": b.Start.Format("Jan 2, 2006 3:04:05 PM"),
		"source":           map[string]any{"location": b.Request.SourceLocationOverride, "type": "S3"},
		"source-version":   b.Request.SourceVersion,
		"logs": map[string]any{
			"group-name": "/aws/codebuild/" + b.Project, "stream-name": strings.TrimPrefix(b.ID, b.Project+":"),
			"deep-link": fmt.Sprintf("https://console.aws.amazon.com/cloudwatch/home?region=%s#logEvent:group=/aws/codebuild/%s;stream=%s",
				c.region, b.Project, strings.TrimPrefix(b.ID, b.Project+":")),
		},
		"phases": phases,
	}
	if b.ArtifactLocation != "" {
		info["artifact"] = map[string]any{"md5sum": "", "sha256sum": "", "location": b.ArtifactLocation}
	}
	ev := map[string]any{
		"version": "0", "id": uuid.NewString(), "detail-type": "CodeBuild Build State Change", "source": "aws.codebuild",
		"account": c.account, "time": b.End.Format(time.RFC3339), "region": c.region, "resources": []string{b.ARN},
		"detail": map[string]any{
			"build-status": b.Status, "project-name": b.Project, "build-id": b.ARN,
			"additional-information": info, "current-phase": "COMPLETED", "current-phase-context": "[: ]", "version": "1",
		},
	}
	c.mu.Unlock()
	payload, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.sent = append(c.sent, payload)
	c.mu.Unlock()
	return c.deliver(payload)
}

// deliver invokes the rule's target with an event, as EventBridge does (again, for a
// duplicate: EventBridge delivers at least once).
func (c *codeBuild) deliver(payload []byte) error {
	_, err := c.lambda.Invoke(context.Background(), &lambda.InvokeInput{
		FunctionName: aws.String(c.target), Payload: payload, InvocationType: lambdatypes.InvocationTypeEvent,
	})
	return err
}

// events returns the build state change events sent.
func (c *codeBuild) events() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.sent...)
}

// requests returns the StartBuild requests received.
func (c *codeBuild) requests() []startBuild {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]startBuild(nil), c.starts...)
}

// get returns a copy of a build.
func (c *codeBuild) get(id string) (buildRecord, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.builds[id]
	if !ok {
		return buildRecord{}, false
	}
	return *b, true
}
