package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestCache(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "pipelines", "hello.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c Cache
	first, err := c.Parse("hello", raw)
	if err != nil || first == nil || first.Name != "hello" {
		t.Fatalf("first parse: got %v, %v", first, err)
	}
	again, _ := c.Parse("hello", []byte(string(raw))) // the same text, another copy
	if again != first {
		t.Error("the same text was parsed again")
	}
	// A pipeline deleted and installed anew with another text (versions restart at 1).
	changed := []byte(strings.Replace(string(raw), `"name": "Build"`, `"name": "Compile"`, 1))
	if string(changed) == string(raw) {
		t.Fatal("test text did not change")
	}
	next, err := c.Parse("hello", changed)
	if err != nil || next == first || next.Stages[1].Name != "Compile" {
		t.Fatalf("changed text: got stage %q (%v), want the new declaration", next.Stages[1].Name, err)
	}
	if _, err := c.Parse("broken", []byte(`{"pipeline":`)); err == nil {
		t.Error("a text that does not parse: got no error")
	}
	if _, err := c.Parse("broken", []byte(`{"pipeline":`)); err == nil {
		t.Error("a text that does not parse, asked again: got no error")
	}
	c.Forget("hello")
	if d, _ := c.Parse("hello", raw); d == first {
		t.Error("after Forget: got the old declaration")
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			text := raw
			if i%2 == 1 {
				text = changed
			}
			if d, err := c.Parse("hello", text); err != nil || d == nil {
				t.Errorf("concurrent parse: %v", err)
			}
		}()
	}
	wg.Wait()
}
