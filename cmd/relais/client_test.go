package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/api"
	"github.com/relais-ci/relais/shared/api/apitest"
)

// apiEnv runs Relais's API with the demo pipeline installed.
func apiEnv(t *testing.T, opts ...api.Option) *apitest.Env {
	t.Helper()
	env := apitest.New(t, opts...)
	env.Install(t, apitest.Pipeline)
	return env
}

// relais runs the CLI in-process against env's API.
func relais(t *testing.T, env *apitest.Env, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	if len(args) > 0 && env != nil {
		args = append([]string{args[0], "--endpoint", env.Server.URL}, args[1:]...)
	}
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, stdio{strings.NewReader(""), &out, &errOut})
	return code, out.String(), errOut.String()
}

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantPos []string
		wantV   bool
		wantS   string
	}{
		{[]string{"a", "b"}, []string{"a", "b"}, false, ""},
		{[]string{"-v", "a", "b"}, []string{"a", "b"}, true, ""},
		{[]string{"a", "--v", "b", "--s", "x"}, []string{"a", "b"}, true, "x"},
		{[]string{"a", "--", "--v", "b"}, []string{"a", "--v", "b"}, false, ""},
		{nil, nil, false, ""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			v := fs.Bool("v", false, "")
			s := fs.String("s", "", "")
			pos, err := parseFlags(fs, tc.args)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if diff := cmp.Diff(tc.wantPos, pos); diff != "" {
				t.Errorf("positional (-want +got):\n%s", diff)
			}
			if *v != tc.wantV || *s != tc.wantS {
				t.Errorf("got -v %v -s %q, want %v %q", *v, *s, tc.wantV, tc.wantS)
			}
		})
	}
}

func TestClientEndpointAndToken(t *testing.T) {
	env := apiEnv(t, api.WithToken("s3cret"))
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrongFile := filepath.Join(t.TempDir(), "wrong")
	if err := os.WriteFile(wrongFile, []byte("nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"endpoint and token from the environment", map[string]string{"RELAIS_ENDPOINT": env.Server.URL, "RELAIS_API_TOKEN": "s3cret"}, nil, 0, ""},
		{"token file", map[string]string{"RELAIS_ENDPOINT": env.Server.URL}, []string{"--api-token-file", tokenFile}, 0, ""},
		{"token file wins over the environment", map[string]string{"RELAIS_ENDPOINT": env.Server.URL, "RELAIS_API_TOKEN": "nope"}, []string{"--api-token-file", tokenFile}, 0, ""},
		{"--endpoint wins over the environment", map[string]string{"RELAIS_ENDPOINT": "http://127.0.0.1:1", "RELAIS_API_TOKEN": "s3cret"}, []string{"--endpoint", env.Server.URL}, 0, ""},
		{"no token", map[string]string{"RELAIS_ENDPOINT": env.Server.URL}, nil, 2, "AccessDeniedException"},
		{"wrong token", map[string]string{"RELAIS_ENDPOINT": env.Server.URL}, []string{"--api-token-file", wrongFile}, 2, "AccessDeniedException"},
		{"missing token file", map[string]string{"RELAIS_ENDPOINT": env.Server.URL}, []string{"--api-token-file", filepath.Join(t.TempDir(), "none")}, 2, "read API token"},
		{"not a URL", nil, []string{"--endpoint", "127.0.0.1:8080"}, 2, "want an http:// or https:// URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("RELAIS_ENDPOINT", "")
			t.Setenv("RELAIS_API_TOKEN", "")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, _, stderr := relais(t, nil, append(append([]string{"status"}, tc.args...), "demo")...)
			if code != tc.wantCode || !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("got exit %d, stderr %q; want %d and %q", code, stderr, tc.wantCode, tc.wantErr)
			}
		})
	}
}

func TestConnectionError(t *testing.T) {
	// A port nothing listens on: the server was closed.
	env := apiEnv(t)
	url := env.Server.URL
	env.Server.Close()
	code, _, stderr := relais(t, nil, "status", "--endpoint", url, "demo")
	if code != 2 || stderr == "" {
		t.Errorf("got exit %d, stderr %q; want 2 and the error", code, stderr)
	}
}

func TestAWSJSON(t *testing.T) {
	type inner struct {
		S3location string
		When       *string
	}
	v := struct {
		PipelineName   string
		Items          []inner
		ResultMetadata struct{ X int }
	}{PipelineName: "demo", Items: []inner{{S3location: "b"}}}
	data, err := awsJSON(v)
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"items\": [\n    {\n      \"s3location\": \"b\"\n    }\n  ],\n  \"pipelineName\": \"demo\"\n}"
	if diff := cmp.Diff(want, string(data)); diff != "" {
		t.Errorf("json (-want +got):\n%s", diff)
	}
}
