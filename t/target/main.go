// Command pprof-target is the upstream used by the ngx_pprof_module tests
// and demo: a plain Go service exposing net/http/pprof on DefaultServeMux.
//
// With -synthetic-heap-mb, /debug/pprof/heap serves a generated profile
// of that many MiB instead (see synthetic.go); -write-synthetic writes it
// to a file and exits, for the benchmark.
//
// Every request is recorded as one JSON line in the -log file before it is
// served, so a test can check exactly what nginx forwarded (request line,
// headers) as soon as it has the response in hand. With -served-log, every
// request is recorded again in that file once its handler has returned,
// with its status and when it ran: a test can tell whether two CPU profiles
// overlapped in this process, and whether Go refused one.
package main

import (
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/* on http.DefaultServeMux
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// requestRecord is one line of the request log.
type requestRecord struct {
	Method     string              `json:"method"`
	RequestURI string              `json:"request_uri"`
	Path       string              `json:"path"`
	RawQuery   string              `json:"raw_query"`
	Proto      string              `json:"proto"`
	Host       string              `json:"host"`
	Headers    map[string][]string `json:"headers"`
}

// requestLogger wraps a handler and appends a requestRecord per request.
type requestLogger struct {
	mu   sync.Mutex
	file *os.File // nil: logging disabled
	next http.Handler
}

func (l *requestLogger) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if l.file != nil {
		l.record(r)
	}
	l.next.ServeHTTP(w, r)
}

func (l *requestLogger) record(r *http.Request) {
	headers := make(map[string][]string, len(r.Header))
	for name, values := range r.Header {
		key := strings.ToLower(name)
		headers[key] = append(headers[key], values...)
	}
	line, err := json.Marshal(requestRecord{
		Method:     r.Method,
		RequestURI: r.RequestURI,
		Path:       r.URL.Path,
		RawQuery:   r.URL.RawQuery,
		Proto:      r.Proto,
		Host:       r.Host,
		Headers:    headers,
	})
	if err != nil {
		log.Printf("encoding request record: %v", err)
		return
	}
	line = append(line, '\n')

	// One unbuffered Write per record on an O_APPEND file: a reader never
	// sees a partial line, and the line is visible before the response is
	// even started, so tests need no sleeps.
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.file.Write(line); err != nil {
		log.Printf("writing request log: %v", err)
	}
}

// servedRecord is one line of the served log.
type servedRecord struct {
	Path     string `json:"path"`
	RawQuery string `json:"raw_query"`
	Status   int    `json:"status"`
	StartNs  int64  `json:"start_ns"` // unix nanoseconds, handler called
	EndNs    int64  `json:"end_ns"`   // unix nanoseconds, handler returned
}

// servedLogger wraps a handler and appends a servedRecord per request once
// the handler has returned: for a CPU profile, once Go has stopped
// profiling, whether the profile ran its course or its client left.
type servedLogger struct {
	mu   sync.Mutex
	file *os.File
	next http.Handler
}

// statusWriter notes the status a handler answers with.
type statusWriter struct {
	http.ResponseWriter
	status int // 0 until the handler writes a header or a byte
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (l *servedLogger) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	l.next.ServeHTTP(sw, r)
	end := time.Now()

	// A handler that wrote nothing is answered 200 by net/http.
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	line, err := json.Marshal(servedRecord{
		Path:     r.URL.Path,
		RawQuery: r.URL.RawQuery,
		Status:   sw.status,
		StartNs:  start.UnixNano(),
		EndNs:    end.UnixNano(),
	})
	if err != nil {
		log.Printf("encoding served record: %v", err)
		return
	}
	line = append(line, '\n')

	// As the request log: one unbuffered Write per line on O_APPEND.
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.file.Write(line); err != nil {
		log.Printf("writing served log: %v", err)
	}
}

// appendLog opens a log file for appending, as both logs are written.
func appendLog(path, what string) *os.File {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		log.Fatalf("opening %s: %v", what, err)
	}
	return f
}

// retained keeps some allocations alive so heap profiles show in-use memory.
var retained [64][]byte

// busyWork burns a little CPU and allocates forever, so that CPU, heap and
// allocs profiles of this process are never empty. Roughly 1 ms of hashing
// per 50 ms tick keeps it at a few percent of one core.
func busyWork() {
	ticker := time.NewTicker(50 * time.Millisecond)
	defer ticker.Stop()
	for i := 0; ; i++ {
		buf := make([]byte, 32<<10)
		for j := range buf {
			buf[j] = byte(i + j)
		}
		sum := sha256.Sum256(buf)
		deadline := time.Now().Add(time.Millisecond)
		for time.Now().Before(deadline) {
			sum = sha256.Sum256(sum[:])
		}
		buf[0] = sum[0]
		retained[i%len(retained)] = buf
		<-ticker.C
	}
}

// heapOverride serves the synthetic profile where net/http/pprof would
// write the heap profile as it is now; the other forms of heap (debug text,
// gc first, delta) still come from the real handler.
type heapOverride struct {
	once     sync.Once
	minBytes int
	body     []byte
	next     http.Handler
}

// profile generates the body on first use; callers meanwhile wait.
func (h *heapOverride) profile() []byte {
	h.once.Do(func() {
		start := time.Now()
		body, err := syntheticHeap(h.minBytes)
		if err != nil {
			log.Fatalf("synthetic heap profile: %v", err)
		}
		log.Printf("synthetic heap profile: %d bytes in %v", len(body),
			time.Since(start).Round(time.Millisecond))
		h.body = body
	})
	return h.body
}

func (h *heapOverride) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Parsed as net/http/pprof parses them, so that a request takes the
	// same branch here as it would there.
	gc, _ := strconv.Atoi(r.FormValue("gc"))
	debug, _ := strconv.Atoi(r.FormValue("debug"))
	if r.URL.Path != "/debug/pprof/heap" || r.FormValue("seconds") != "" ||
		gc > 0 || debug != 0 {
		h.next.ServeHTTP(w, r)
		return
	}

	body := h.profile()
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="heap"`)

	// Go's own profile reaches the connection through net/http's 2 KiB
	// buffer, hence as chunks of about that size; so does this one.
	for len(body) > 0 {
		n := len(body)
		if n > 2048 {
			n = 2048
		}
		if _, err := w.Write(body[:n]); err != nil {
			return
		}
		body = body[n:]
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:6060", "address to listen on")
	logPath := flag.String("log", "", "append one JSON line per request to this file (empty: no log)")
	servedPath := flag.String("served-log", "",
		"append one JSON line per request to this file once it is served (empty: no log)")
	// These two only exist so that /debug/pprof/cmdline has something
	// sensitive to show; the service never uses them.
	flag.String("api-token", "", "demo secret (unused; visible in cmdline)")
	flag.String("db-password", "", "demo secret (unused; visible in cmdline)")
	synthMB := flag.Int("synthetic-heap-mb", 0,
		"serve a generated heap profile of at least this many MiB, compressed (0: the real one)")
	writeSynth := flag.String("write-synthetic", "",
		"write the -synthetic-heap-mb profile to this file and exit")
	flag.Parse()

	log.SetFlags(log.LstdFlags | log.Lmicroseconds)

	if *synthMB < 0 || *writeSynth != "" && *synthMB == 0 {
		log.Fatal("-synthetic-heap-mb must be positive with -write-synthetic, and never negative")
	}
	if *writeSynth != "" {
		heap := &heapOverride{minBytes: *synthMB << 20}
		if err := os.WriteFile(*writeSynth, heap.profile(), 0o644); err != nil {
			log.Fatal(err)
		}
		return
	}

	handler := &requestLogger{next: http.DefaultServeMux}
	var heap *heapOverride
	if *synthMB > 0 {
		heap = &heapOverride{minBytes: *synthMB << 20, next: http.DefaultServeMux}
		handler.next = heap
	}
	if *servedPath != "" {
		handler.next = &servedLogger{
			file: appendLog(*servedPath, "served log"),
			next: handler.next,
		}
	}
	if *logPath != "" {
		handler.file = appendLog(*logPath, "request log")
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	fmt.Fprintf(os.Stderr, "listening on %s\n", ln.Addr())

	go busyWork()
	if heap != nil {
		// Generating takes seconds: started now, but after listening, so
		// that the port is up at once and the first heap request waits less.
		go heap.profile()
	}

	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Fatal(srv.Serve(ln))
}
