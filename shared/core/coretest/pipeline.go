package coretest

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/core"
)

// PipelineStore checks the promises of core.PipelineStore. newStore returns an empty
// store; it is called once per subtest.
func PipelineStore(t *testing.T, newStore func(t *testing.T) core.PipelineStore) {
	ctx := t.Context()
	pipeline := func(name string, version int, decl string) core.Pipeline {
		return core.Pipeline{
			Name: name, Version: version, Declaration: json.RawMessage(decl),
			CreatedAt: at(0), UpdatedAt: at(version),
		}
	}
	// mustGet returns the stored pipeline, failing t when there is none.
	mustGet := func(t *testing.T, s core.PipelineStore, name string) core.Pipeline {
		t.Helper()
		p, err := s.GetPipeline(ctx, name)
		noErr(t, "get pipeline "+name, err)
		return p
	}

	t.Run("create stores version 1", func(t *testing.T) {
		s := newStore(t)
		in := pipeline("build", 0, `{"stages":[]}`)
		got, err := s.PutPipeline(ctx, in)
		noErr(t, "put", err)
		want := in
		want.Version = 1
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("PutPipeline returned (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(got, mustGet(t, s, "build")); diff != "" {
			t.Errorf("GetPipeline (-put +got):\n%s", diff)
		}
	})

	t.Run("the declaration reads back as the same JSON", func(t *testing.T) {
		s := newStore(t)
		decl := "{\n  \"pipeline\": {\"name\": \"build\", \"stages\": [1, 2.5, \"x\", null]}\n}"
		_, err := s.PutPipeline(ctx, pipeline("build", 0, decl))
		noErr(t, "put", err)
		got := mustGet(t, s, "build").Declaration
		var want, have any
		noErr(t, "decode put declaration", json.Unmarshal([]byte(decl), &want))
		noErr(t, "decode stored declaration", json.Unmarshal(got, &have))
		if diff := cmp.Diff(want, have); diff != "" {
			t.Errorf("declaration (-want +got):\n%s", diff)
		}
	})

	t.Run("create of an existing name conflicts and changes nothing", func(t *testing.T) {
		s := newStore(t)
		first, err := s.PutPipeline(ctx, pipeline("build", 0, `{"v":1}`))
		noErr(t, "put", err)
		_, err = s.PutPipeline(ctx, pipeline("build", 0, `{"v":2}`))
		wantErr(t, "second create", err, core.ErrConflict)
		if diff := cmp.Diff(first, mustGet(t, s, "build")); diff != "" {
			t.Errorf("stored pipeline changed (-want +got):\n%s", diff)
		}
	})

	t.Run("update with the stored version increments it", func(t *testing.T) {
		s := newStore(t)
		_, err := s.PutPipeline(ctx, pipeline("build", 0, `{"v":1}`))
		noErr(t, "create", err)
		for v := 1; v <= 3; v++ {
			got, err := s.PutPipeline(ctx, pipeline("build", v, `{"v":2}`))
			noErr(t, "update", err)
			if got.Version != v+1 {
				t.Fatalf("update of version %d: got version %d, want %d", v, got.Version, v+1)
			}
			if diff := cmp.Diff(got, mustGet(t, s, "build")); diff != "" {
				t.Errorf("GetPipeline after update (-put +got):\n%s", diff)
			}
		}
	})

	t.Run("update with a stale version conflicts and changes nothing", func(t *testing.T) {
		s := newStore(t)
		_, err := s.PutPipeline(ctx, pipeline("build", 0, `{"v":1}`))
		noErr(t, "create", err)
		v2, err := s.PutPipeline(ctx, pipeline("build", 1, `{"v":2}`))
		noErr(t, "update", err)
		for _, stale := range []int{1, 3, 7} {
			_, err = s.PutPipeline(ctx, pipeline("build", stale, `{"v":"stale"}`))
			wantErr(t, "update with a wrong version", err, core.ErrConflict)
		}
		if diff := cmp.Diff(v2, mustGet(t, s, "build")); diff != "" {
			t.Errorf("stored pipeline changed (-want +got):\n%s", diff)
		}
	})

	t.Run("update of a missing pipeline is not found", func(t *testing.T) {
		s := newStore(t)
		_, err := s.PutPipeline(ctx, pipeline("ghost", 2, `{}`))
		wantErr(t, "update missing", err, core.ErrNotFound)
		_, err = s.GetPipeline(ctx, "ghost")
		wantErr(t, "get after failed update", err, core.ErrNotFound)
	})

	t.Run("get of a missing pipeline is not found", func(t *testing.T) {
		s := newStore(t)
		_, err := s.GetPipeline(ctx, "nope")
		wantErr(t, "get", err, core.ErrNotFound)
	})

	t.Run("list is in name order", func(t *testing.T) {
		s := newStore(t)
		got, err := s.ListPipelines(ctx)
		noErr(t, "list empty", err)
		if len(got) != 0 {
			t.Fatalf("empty store: got %d pipelines, want 0", len(got))
		}
		// Versions and creation order both differ from name order.
		stored := map[string]core.Pipeline{}
		for _, name := range []string{"deploy", "api", "web", "batch"} {
			p, err := s.PutPipeline(ctx, pipeline(name, 0, `{"name":"`+name+`"}`))
			noErr(t, "put "+name, err)
			stored[name] = p
		}
		for _, name := range []string{"api", "api", "batch"} {
			p, err := s.PutPipeline(ctx, pipeline(name, stored[name].Version, `{"updated":true}`))
			noErr(t, "update "+name, err)
			stored[name] = p
		}
		want := []core.Pipeline{stored["api"], stored["batch"], stored["deploy"], stored["web"]}
		got, err = s.ListPipelines(ctx)
		noErr(t, "list", err)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ListPipelines (-want +got):\n%s", diff)
		}
	})

	t.Run("delete removes and is idempotent", func(t *testing.T) {
		s := newStore(t)
		_, err := s.PutPipeline(ctx, pipeline("build", 0, `{}`))
		noErr(t, "put", err)
		_, err = s.PutPipeline(ctx, pipeline("keep", 0, `{}`))
		noErr(t, "put", err)
		noErr(t, "delete", s.DeletePipeline(ctx, "build"))
		_, err = s.GetPipeline(ctx, "build")
		wantErr(t, "get deleted", err, core.ErrNotFound)
		noErr(t, "delete again", s.DeletePipeline(ctx, "build"))
		noErr(t, "delete never created", s.DeletePipeline(ctx, "never"))
		mustGet(t, s, "keep")
		got, err := s.PutPipeline(ctx, pipeline("build", 0, `{}`))
		noErr(t, "create after delete", err)
		if got.Version != 1 {
			t.Errorf("create after delete: got version %d, want 1", got.Version)
		}
	})

	t.Run("an empty name is invalid", func(t *testing.T) {
		s := newStore(t)
		_, err := s.PutPipeline(ctx, pipeline("", 0, `{}`))
		wantErr(t, "put", err, core.ErrInvalid)
	})

	t.Run("concurrent creates: exactly one wins", func(t *testing.T) {
		s := newStore(t)
		errs := race(20, func(i int) error {
			_, err := s.PutPipeline(ctx, pipeline("build", 0, `{"writer":`+jsonInt(i)+`}`))
			return err
		})
		w := exactlyOne(t, errs, core.ErrConflict)
		if got, want := string(mustGet(t, s, "build").Declaration), `{"writer":`+jsonInt(w)+`}`; got != want {
			t.Errorf("stored declaration: got %s, want the winner's %s", got, want)
		}
	})

	t.Run("concurrent updates of one version: exactly one wins", func(t *testing.T) {
		s := newStore(t)
		_, err := s.PutPipeline(ctx, pipeline("build", 0, `{}`))
		noErr(t, "create", err)
		errs := race(20, func(i int) error {
			_, err := s.PutPipeline(ctx, pipeline("build", 1, `{"writer":`+jsonInt(i)+`}`))
			return err
		})
		w := exactlyOne(t, errs, core.ErrConflict)
		got := mustGet(t, s, "build")
		if got.Version != 2 || string(got.Declaration) != `{"writer":`+jsonInt(w)+`}` {
			t.Errorf("stored: got version %d %s, want version 2 with writer %d", got.Version, got.Declaration, w)
		}
	})
}

func jsonInt(i int) string { b, _ := json.Marshal(i); return string(b) }
