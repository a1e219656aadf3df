package nodeagent

import (
	"fmt"
	"math/rand/v2"
	"sync"
)

// ipAllocator hands out indexes into a /16: index i is 127.<octet>.<i/254>.<i%254+1>
// on loopback, and the same host part in 10.244.0.0/16 for the pod IP the API shows.
type ipAllocator struct {
	mu     sync.Mutex
	octet  int
	used   map[int]bool
	cursor int
}

const ipsPerRange = 254 * 256

func newIPAllocator(octet int) *ipAllocator {
	return &ipAllocator{octet: octet, used: map[int]bool{}}
}

// anywhere starts handing out addresses at a random place in the range, so
// two local clusters on one machine (a demo beside the e2e tests) are most
// unlikely to give two pods the same address and port.
func (a *ipAllocator) anywhere() *ipAllocator {
	a.cursor = rand.IntN(ipsPerRange)
	return a
}

func (a *ipAllocator) allocate() (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for n := 0; n < ipsPerRange; n++ {
		i := (a.cursor + n) % ipsPerRange
		if !a.used[i] {
			a.used[i] = true
			a.cursor = i + 1 // do not reuse a just-freed address at once
			return i, nil
		}
	}
	return 0, fmt.Errorf("no free address in 127.%d.0.0/16", a.octet)
}

func (a *ipAllocator) release(i int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.used, i)
}

func (a *ipAllocator) loopback(i int) string {
	return fmt.Sprintf("127.%d.%d.%d", a.octet, i/254, i%254+1)
}

// fakePodIP is the address reported as status.podIP: never dialled by anyone.
func fakePodIP(i int) string {
	return fmt.Sprintf("10.244.%d.%d", i/254, i%254+1)
}
