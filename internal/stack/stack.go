// Package stack assembles Tether's processes from their packages, so that the
// tether binary and tests run exactly the same wiring: StartAPI (REST API and
// outbox relay), StartPush (one push node) and StartDev (everything in one
// process on SQLite and an in-process Redis). Each returns a handle with the
// bound addresses and a Stop that ends every goroutine the handle started.
package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/shared/metrics"
)

// Option adjusts how a stack starts.
type Option func(*options)

type options struct {
	log      *slog.Logger
	takeover bool // StartPush: take a running node over (hotrestart.go)
}

// WithLogger makes the stack log to l instead of a logger built from the
// configuration's log settings on stderr.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

func buildOptions(opts []Option, fallback func() *slog.Logger) options {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if o.log == nil {
		o.log = fallback()
	}
	return o
}

// startupTimeout bounds each dependency check during start.
const startupTimeout = 10 * time.Second

// openRedis returns an instrumented client that has answered a PING.
func openRedis(ctx context.Context, opt *redis.Options, m *metrics.Metrics) (*redis.Client, error) {
	rdb := redis.NewClient(opt)
	m.InstrumentRedis(rdb)
	pctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("redis at %s: %w", opt.Addr, err)
	}
	return rdb, nil
}

// runner owns the background goroutines of a handle. The first unexpected
// error of any of them is reported on fatal, so the binary can exit instead
// of running half-broken.
type runner struct {
	wg    sync.WaitGroup
	fatal chan error
	once  sync.Once
	log   *slog.Logger
}

func newRunner(log *slog.Logger) *runner {
	return &runner{fatal: make(chan error, 1), log: log}
}

// goFunc runs f on a goroutine owned by r; a non-nil error from f is fatal.
func (r *runner) goFunc(name string, f func() error) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if err := f(); err != nil {
			r.log.Error("component stopped unexpectedly", "component", name, "err", err)
			r.once.Do(func() { r.fatal <- fmt.Errorf("%s: %w", name, err) })
		}
	}()
}

func (r *runner) wait() { r.wg.Wait() }

// httpServer is one listening HTTP server owned by a runner.
type httpServer struct {
	name string
	srv  *http.Server
	ln   net.Listener
}

func listenHTTP(name, addr string, h http.Handler, log *slog.Logger) (*httpServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: listen %s: %w", name, addr, err)
	}
	return serveHTTPOn(name, ln, h, log), nil
}

// serveHTTPOn is listenHTTP on a listener that exists already, e.g. one
// inherited in a hot restart.
func serveHTTPOn(name string, ln net.Listener, h http.Handler, log *slog.Logger) *httpServer {
	return &httpServer{
		name: name,
		ln:   ln,
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      60 * time.Second, // pprof profiles take 30s by default
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
	}
}

func (s *httpServer) addr() string { return s.ln.Addr().String() }

func (s *httpServer) serve(r *runner) {
	r.goFunc(s.name, func() error {
		if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
}

// shutdown stops accepting and waits for in-flight requests until ctx ends,
// then closes what is left.
func (s *httpServer) shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
		return fmt.Errorf("%s: shutdown: %w", s.name, err)
	}
	return nil
}

// closeQuietly closes c, for cleanup on a failed start.
func closeQuietly(c io.Closer) {
	if c != nil {
		_ = c.Close()
	}
}
