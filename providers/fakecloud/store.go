package fakecloud

import (
	"sort"
	"sync"
)

// Store holds one kind of resource by id. Values are copied in and out, so
// a handler cannot change stored state by accident; Update is the way to
// change it. Safe for concurrent use; the zero value is ready.
type Store[T any] struct {
	mu    sync.Mutex
	items map[string]T
	order map[string]int
	n     int
}

// Put stores v under id, replacing any previous value.
func (s *Store[T]) Put(id string, v T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.items == nil {
		s.items, s.order = map[string]T{}, map[string]int{}
	}
	if _, ok := s.items[id]; !ok {
		s.n++
		s.order[id] = s.n
	}
	s.items[id] = v
}

// Get returns the value for id.
func (s *Store[T]) Get(id string) (T, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.items[id]
	return v, ok
}

// Update changes the value for id in place under the lock; false when id
// is unknown.
func (s *Store[T]) Update(id string, fn func(*T)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.items[id]
	if !ok {
		return false
	}
	fn(&v)
	s.items[id] = v
	return true
}

// Delete removes id; false when it was not there.
func (s *Store[T]) Delete(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.items[id]; !ok {
		return false
	}
	delete(s.items, id)
	delete(s.order, id)
	return true
}

// List returns the values for which keep is true (all when keep is nil), in
// creation order.
func (s *Store[T]) List(keep func(id string, v T) bool) []T {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.items))
	for id := range s.items {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return s.order[ids[i]] < s.order[ids[j]] })
	var out []T
	for _, id := range ids {
		if keep == nil || keep(id, s.items[id]) {
			out = append(out, s.items[id])
		}
	}
	return out
}
