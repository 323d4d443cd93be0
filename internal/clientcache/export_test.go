package clientcache

import "unsafe"

// SharesBytes reports whether the cache's key for id points into s.
func SharesBytes(c *Cache, id, s string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[id]
	if !ok {
		return false
	}
	p, start := uintptr(unsafe.Pointer(unsafe.StringData(e.id))), uintptr(unsafe.Pointer(unsafe.StringData(s)))
	return p >= start && p < start+uintptr(len(s))
}
