package awse2e

import (
	"archive/zip"
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
)

// gitHub is GitHub for the run: one repository whose commits' objects and zipballs
// (redirected to a download host, as api.github.com redirects to codeload.github.com)
// the Source action reads with the token; commit statuses and compares are recorded if
// anything asks for them.
type gitHub struct {
	api, codeload *httptest.Server
	repo          string
	token         string

	mu       sync.Mutex
	sha      string            // the head of main: the last commit added
	archives map[string][]byte // by commit id
	requests []string          // method and path of every API request
	statuses []string          // commit statuses posted: "<sha> <state> <context>"
	bad      []string          // requests refused
}

// newGitHub serves repo with one commit of the files of dir.
func newGitHub(t *testing.T, repo, token, dir string) *gitHub {
	g := &gitHub{repo: repo, token: token, archives: map[string][]byte{}}
	g.add(t, readDir(t, dir))
	g.codeload = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			g.refuse(w, http.StatusBadRequest, "the download host got the API token: "+r.URL.Path)
			return
		}
		sha := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		archive := g.archive(sha)
		if archive == nil || r.URL.Query().Get("token") != "dl-"+sha[:7] {
			g.refuse(w, http.StatusNotFound, "download without its token: "+r.URL.String())
			return
		}
		w.Header().Set("Content-Type", "application/zip")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%s-%s.zip", strings.ReplaceAll(repo, "/", "-"), sha[:7]))
		w.Write(archive)
	}))
	t.Cleanup(g.codeload.Close)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /repos/"+repo+"/commits/{ref...}", func(w http.ResponseWriter, r *http.Request) {
		sha := r.PathValue("ref")
		if sha == "main" || sha == "refs/heads/main" {
			sha = g.head()
		}
		if g.archive(sha) == nil {
			w.WriteHeader(http.StatusUnprocessableEntity)
			fmt.Fprintf(w, `{"message":"No commit found for SHA: %s"}`, r.PathValue("ref"))
			return
		}
		fmt.Fprintf(w, `{"sha":%q,"html_url":"https://github.com/%s/commit/%s","commit":{"message":"Say hello\n","author":{"name":"Demo","date":"2026-11-25T10:00:00Z"},"committer":{"name":"Demo","date":"2026-11-25T10:00:00Z"}}}`,
			sha, repo, sha)
	})
	mux.HandleFunc("GET /repos/"+repo+"/zipball/{ref}", func(w http.ResponseWriter, r *http.Request) {
		sha := r.PathValue("ref")
		if g.archive(sha) == nil {
			g.refuse(w, http.StatusNotFound, "zipball of "+sha)
			return
		}
		http.Redirect(w, r, fmt.Sprintf("%s/%s/legacy.zip/%s?token=dl-%s", g.codeload.URL, repo, sha, sha[:7]), http.StatusFound)
	})
	mux.HandleFunc("POST /repos/"+repo+"/statuses/{sha}", func(w http.ResponseWriter, r *http.Request) {
		var st struct{ State, Context string }
		json.NewDecoder(r.Body).Decode(&st)
		g.mu.Lock()
		g.statuses = append(g.statuses, r.PathValue("sha")+" "+st.State+" "+st.Context)
		g.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{}`)
	})
	mux.HandleFunc("GET /repos/"+repo+"/compare/{spec}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"files":[{"filename":"main.go","status":"modified"}]}`)
	})
	g.api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.requests = append(g.requests, r.Method+" "+r.URL.Path)
		g.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+g.token {
			g.refuse(w, http.StatusUnauthorized, "API request without the token: "+r.Method+" "+r.URL.Path)
			return
		}
		if r.Header.Get("X-GitHub-Api-Version") == "" {
			g.refuse(w, http.StatusBadRequest, "API request without X-GitHub-Api-Version: "+r.URL.Path)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(g.api.Close)
	return g
}

// add commits files (path → content) on main and returns the commit id.
func (g *gitHub) add(t *testing.T, files map[string]string) string {
	archive, sha := zipball(t, g.repo, files)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.archives[sha] = archive
	g.sha = sha
	return sha
}

// posted returns the commit statuses posted, in order.
func (g *gitHub) posted() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.statuses...)
}

func (g *gitHub) head() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sha
}

func (g *gitHub) archive(sha string) []byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.archives[sha]
}

func (g *gitHub) refuse(w http.ResponseWriter, status int, msg string) {
	g.mu.Lock()
	g.bad = append(g.bad, msg)
	g.mu.Unlock()
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"message":%q}`, msg)
}

// readDir reads the files under dir, by slash-separated relative path.
func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// zipball archives files as GitHub does: every file under owner-repo-<short sha>/,
// folders included. The commit id is derived from the content.
func zipball(t *testing.T, repo string, files map[string]string) ([]byte, string) {
	t.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha1.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%d\x00%s", n, len(files[n]), files[n])
	}
	sha := hex.EncodeToString(h.Sum(nil))
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	zw.SetComment(sha)
	top := strings.ReplaceAll(repo, "/", "-") + "-" + sha[:7] + "/"
	dirs := map[string]bool{}
	mkdir := func(name string) {
		if dirs[name] {
			return
		}
		dirs[name] = true
		dh := &zip.FileHeader{Name: name}
		dh.SetMode(fs.ModeDir | 0o755)
		if _, err := zw.CreateHeader(dh); err != nil {
			t.Fatal(err)
		}
	}
	mkdir(top)
	for _, n := range names {
		parts := strings.Split(n, "/")
		for i := 1; i < len(parts); i++ {
			mkdir(top + strings.Join(parts[:i], "/") + "/")
		}
		fh := &zip.FileHeader{Name: top + n, Method: zip.Deflate}
		fh.SetMode(0o644)
		w, err := zw.CreateHeader(fh)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, files[n])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), sha
}

// secretsManager answers GetSecretValue (AWS JSON 1.1, secretsmanager.GetSecretValue)
// for the stack's secrets, by ARN.
type secretsManager struct {
	srv    *httptest.Server
	values map[string]string

	mu    sync.Mutex
	reads map[string]int
	bad   []string
}

func newSecretsManager(t *testing.T, calls *callLog, region string, values map[string]string) *secretsManager {
	s := &secretsManager{values: values, reads: map[string]int{}}
	s.srv = httptest.NewServer(calls.wrap(describeSecrets, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		var in struct {
			SecretID string `json:"SecretId"`
		}
		err := json.NewDecoder(r.Body).Decode(&in)
		msg := checkSigned(r, region, "secretsmanager")
		if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" || err != nil {
			msg = fmt.Sprintf("target %q, body error %v", r.Header.Get("X-Amz-Target"), err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if msg != "" {
			s.bad = append(s.bad, msg)
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"__type":"InvalidRequestException","message":%q}`, msg)
			return
		}
		v, ok := s.values[in.SecretID]
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}`)
			return
		}
		s.reads[in.SecretID]++
		name := in.SecretID[strings.LastIndex(in.SecretID, ":")+1:]
		json.NewEncoder(w).Encode(map[string]any{
			"ARN": in.SecretID, "Name": name, "SecretString": v, "VersionId": uuid.NewString(),
			"VersionStages": []string{"AWSCURRENT"}, "CreatedDate": 1795600000,
		})
	})))
	t.Cleanup(s.srv.Close)
	return s
}

// sns answers Publish (the Query API, form-encoded, XML answers) for the stack's topic
// and keeps the messages, as the topic's email subscriptions would deliver them.
type sns struct {
	srv    *httptest.Server
	topics []string

	mu   sync.Mutex
	sent []published
	bad  []string
}

// published is one Publish request.
type published struct {
	Topic, Subject, Message string
	Attributes              map[string]string // name → "DataType:StringValue"
}

func newSNS(t *testing.T, calls *callLog, region string, topics ...string) *sns {
	s := &sns{topics: topics}
	s.srv = httptest.NewServer(calls.wrap(describeSNS, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		msg := checkSigned(r, region, "sns")
		err := r.ParseForm()
		f := r.PostForm
		switch {
		case msg != "":
		case r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || err != nil:
			msg = fmt.Sprintf("want a form POST, got %s %q (%v)", r.Method, r.Header.Get("Content-Type"), err)
		case f.Get("Action") != "Publish" || f.Get("Version") != "2010-03-31":
			msg = fmt.Sprintf("want Action Publish of version 2010-03-31, got %q %q", f.Get("Action"), f.Get("Version"))
		case f.Get("Message") == "":
			msg = "Message is required"
		case len(f.Get("Message")) > 256<<10:
			msg = "Invalid parameter: Message too long"
		case !validSubject(f.Get("Subject")):
			msg = fmt.Sprintf("Invalid parameter: Subject %q: ASCII text without line breaks, under 100 characters", f.Get("Subject"))
		}
		w.Header().Set("Content-Type", "text/xml")
		s.mu.Lock()
		defer s.mu.Unlock()
		if msg != "" {
			s.bad = append(s.bad, msg)
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>InvalidParameter</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`, xmlEscape(msg), uuid.NewString())
			return
		}
		if !slices.Contains(s.topics, f.Get("TopicArn")) {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>NotFound</Code><Message>Topic does not exist</Message></Error><RequestId>%s</RequestId></ErrorResponse>`, uuid.NewString())
			return
		}
		p := published{Topic: f.Get("TopicArn"), Subject: f.Get("Subject"), Message: f.Get("Message"), Attributes: map[string]string{}}
		for i := 1; ; i++ {
			k := fmt.Sprintf("MessageAttributes.entry.%d.", i)
			name := f.Get(k + "Name")
			if name == "" {
				break
			}
			p.Attributes[name] = f.Get(k+"Value.DataType") + ":" + f.Get(k+"Value.StringValue")
		}
		s.sent = append(s.sent, p)
		fmt.Fprintf(w, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>%s</MessageId></PublishResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></PublishResponse>`, uuid.NewString(), uuid.NewString())
	})))
	t.Cleanup(s.srv.Close)
	return s
}

// validSubject is SNS's rule for subjects: printable ASCII, no line breaks, fewer than
// 100 characters, starting with a letter, number or punctuation mark.
func validSubject(s string) bool {
	if s == "" {
		return true
	}
	if len(s) >= 100 || s[0] == ' ' {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return false
		}
	}
	return true
}

func (s *sns) messages() []published {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]published(nil), s.sent...)
}

func xmlEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// cloudFormation receives the answers of custom resources at their ResponseURL (a
// presigned S3 URL on AWS: a PUT of the JSON answer).
type cloudFormation struct {
	srv     *httptest.Server
	answers chan map[string]any
}

func newCloudFormation(t *testing.T) *cloudFormation {
	c := &cloudFormation{answers: make(chan map[string]any, 4)}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		if r.Method != http.MethodPut || json.NewDecoder(r.Body).Decode(&m) != nil {
			http.Error(w, "want a PUT of JSON", http.StatusBadRequest)
			return
		}
		c.answers <- m
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// responseURL is where one request's answer goes.
func (c *cloudFormation) responseURL(requestID string) string {
	return c.srv.URL + "/cloudformation-custom-resource-response-euwest1/" + url.PathEscape(requestID) + "?X-Amz-Signature=e2e"
}
