package nodeagent

import (
	"context"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// serviceProxy serves each Service on a loopback address of its own
// (127.2.x.y), one TCP listener per port, forwarding every connection to a
// ready endpoint's pod loopback address, round robin: a miniature kube-proxy.
// The default/kubernetes Service forwards to the API server.
type serviceProxy struct {
	a      *Agent
	ips    *ipAllocator
	svcs   corelisters.ServiceLister
	slices discoverylisters.EndpointSliceLister
	pods   corelisters.PodLister

	mu     sync.Mutex
	served map[string]*servedService // namespace/name
	closed bool
}

type servedService struct {
	entry     serviceEntry
	idx       int
	listeners map[int32]net.Listener
	next      uint64
}

func newServiceProxy(a *Agent) *serviceProxy {
	return &serviceProxy{a: a, ips: newIPAllocator(2).anywhere(), served: map[string]*servedService{}}
}

func (p *serviceProxy) setup(ctx context.Context, f informers.SharedInformerFactory, pods corelisters.PodLister) error {
	svcInf := f.Core().V1().Services()
	p.svcs, p.slices, p.pods = svcInf.Lister(), f.Discovery().V1().EndpointSlices().Lister(), pods
	f.Discovery().V1().EndpointSlices().Informer() // register before Start
	_, err := svcInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { p.sync(ctx, o, false) },
		UpdateFunc: func(_, o any) { p.sync(ctx, o, false) },
		DeleteFunc: func(o any) {
			if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = t.Obj
			}
			p.sync(ctx, o, true)
		},
	})
	return err
}

// sync opens or closes listeners to match one Service's ports, then rewrites
// every pod's /etc/hosts if the set of served names changed.
func (p *serviceProxy) sync(ctx context.Context, obj any, deleted bool) {
	svc, ok := obj.(*corev1.Service)
	if !ok || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return
	}
	key := svc.Namespace + "/" + svc.Name
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	s, known := p.served[key]
	namesChanged := false
	switch {
	case deleted && known:
		for _, l := range s.listeners {
			l.Close()
		}
		p.ips.release(s.idx)
		delete(p.served, key)
		namesChanged = true
	case !deleted:
		if !known {
			idx, err := p.ips.allocate()
			if err != nil {
				p.mu.Unlock()
				p.a.opts.Log.Error(err, "cannot serve service", "service", key)
				return
			}
			s = &servedService{idx: idx, listeners: map[int32]net.Listener{},
				entry: serviceEntry{namespace: svc.Namespace, name: svc.Name, ip: p.ips.loopback(idx)}}
			p.served[key] = s
			namesChanged = true
		}
		p.syncListeners(ctx, svc, s)
	}
	p.mu.Unlock()
	if namesChanged {
		p.a.forEachRunner(func(r *podRunner) { _ = r.writeHosts() })
	}
}

func (p *serviceProxy) syncListeners(ctx context.Context, svc *corev1.Service, s *servedService) {
	want := map[int32]corev1.ServicePort{}
	for _, sp := range svc.Spec.Ports {
		if sp.Protocol == "" || sp.Protocol == corev1.ProtocolTCP {
			want[sp.Port] = sp
		}
	}
	for port, l := range s.listeners {
		if _, ok := want[port]; !ok {
			l.Close()
			delete(s.listeners, port)
		}
	}
	for port, sp := range want {
		if _, ok := s.listeners[port]; ok {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(s.entry.ip, strconv.Itoa(int(port))))
		if err != nil {
			p.a.opts.Log.Error(err, "cannot listen for service", "service", svc.Namespace+"/"+svc.Name, "port", port)
			continue
		}
		s.listeners[port] = l
		go p.serve(ctx, l, svc.Namespace, svc.Name, sp.Name, s)
	}
}

func (p *serviceProxy) serve(ctx context.Context, l net.Listener, ns, name, portName string, s *servedService) {
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			backends := p.backends(ns, name, portName)
			if len(backends) == 0 {
				return
			}
			p.mu.Lock()
			start := s.next
			s.next++
			p.mu.Unlock()
			for i := range backends {
				addr := backends[(int(start)+i)%len(backends)]
				d := net.Dialer{Timeout: 2 * time.Second}
				up, err := d.DialContext(ctx, "tcp", addr)
				if err != nil {
					continue
				}
				pipe(conn, up)
				return
			}
		}()
	}
}

func pipe(a, b net.Conn) {
	defer b.Close()
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	<-done
}

// backends are the loopback host:port of the Service's ready endpoints for a
// port: EndpointSlice -> targetRef pod -> the pod's loopback annotation.
func (p *serviceProxy) backends(ns, name, portName string) []string {
	if ns == "default" && name == "kubernetes" {
		return []string{net.JoinHostPort(p.a.apiHost, p.a.apiPort)}
	}
	slices, err := p.slices.EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name}))
	if err != nil {
		return nil
	}
	var out []string
	for _, sl := range slices {
		var port int32 = -1
		for _, sp := range sl.Ports {
			if sp.Port != nil && (sp.Name == nil && portName == "" || sp.Name != nil && *sp.Name == portName) {
				port = *sp.Port
			}
		}
		if port < 0 {
			continue
		}
		for _, ep := range sl.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready || ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" {
				continue
			}
			pod, err := p.pods.Pods(ns).Get(ep.TargetRef.Name)
			if err != nil || !isLoopback(pod.Annotations[LoopbackAnnotation]) {
				continue
			}
			out = append(out, net.JoinHostPort(pod.Annotations[LoopbackAnnotation], strconv.Itoa(int(port))))
		}
	}
	return out
}

func (p *serviceProxy) entries() []serviceEntry {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]serviceEntry, 0, len(p.served))
	for _, s := range p.served {
		out = append(out, s.entry)
	}
	return out
}

func (p *serviceProxy) address(ns, name string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.served[ns+"/"+name]; ok {
		return s.entry.ip
	}
	return ""
}

func (p *serviceProxy) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, s := range p.served {
		for _, l := range s.listeners {
			l.Close()
		}
	}
}

func isLoopback(ip string) bool {
	parsed := net.ParseIP(ip)
	return parsed != nil && parsed.IsLoopback()
}
