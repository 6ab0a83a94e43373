package pipeline

import (
	"bytes"
	"sync"
)

// Cache keeps, per pipeline name, the declaration parsed from the stored text it was
// last given, so that services reading a pipeline on every call parse it only when its
// text changes: a new version, or the pipeline deleted and installed anew (which starts
// again at version 1, so a version number alone cannot tell). Declarations it returns
// are shared and must not be changed. Safe for concurrent use; the zero Cache is ready.
type Cache struct {
	mu sync.RWMutex
	m  map[string]cachedDecl
}

type cachedDecl struct {
	raw  []byte
	decl *Declaration
	err  error
}

// Parse returns the declaration parsed from raw, the stored text of pipeline name
// (and the parse error, which is kept too: a text that does not parse is not parsed
// again).
func (c *Cache) Parse(name string, raw []byte) (*Declaration, error) {
	c.mu.RLock()
	e, ok := c.m[name]
	c.mu.RUnlock()
	if ok && bytes.Equal(e.raw, raw) {
		if len(raw) > 0 && &e.raw[0] != &raw[0] {
			// Keep this read's copy: the next calls served by the same read (a store
			// that caches what it returns) compare pointers only.
			c.put(name, cachedDecl{raw: raw, decl: e.decl, err: e.err})
		}
		return e.decl, e.err
	}
	d, err := Parse(raw)
	c.put(name, cachedDecl{raw: raw, decl: d, err: err})
	return d, err
}

// Forget drops what the cache holds for pipeline name (deleted).
func (c *Cache) Forget(name string) {
	c.mu.Lock()
	delete(c.m, name)
	c.mu.Unlock()
}

func (c *Cache) put(name string, e cachedDecl) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]cachedDecl{}
	}
	c.m[name] = e
	c.mu.Unlock()
}
