// Command http is the load generator of wxtoken's token API: a fixed number
// of keep-alive connections, each sending one request at a time for a fixed
// duration, spread over many authorizers, with every latency recorded in a
// histogram. It prints requests per second and p50/p90/p99 latencies.
//
// It speaks HTTP/1.1 on raw connections rather than through net/http's
// client, so that the load generator, which shares the machine's cores with
// the server, spends as little CPU per request as wrk or redis-benchmark do,
// and the figure compared with Redis is the server's rather than the
// client's.
//
//	go run ./bench/http -url http://127.0.0.1:8080 -key $KEY -c 64 -d 10s
//
// The appids come from -appids (a file, one per line) or, by default, from
// the API's own authorizer list (state authorized), up to -authorizers.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "bench/http:", err)
		os.Exit(1)
	}
}

type config struct {
	url         string
	key         string
	connections int
	duration    time.Duration
	warmup      time.Duration
	authorizers int
	appIDsFile  string
	path        string
	check       string
	jsonOut     bool
	serverPID   int
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("bench/http", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.url, "url", "http://127.0.0.1:8080", "base URL of the wxtoken server")
	fs.StringVar(&c.key, "key", os.Getenv("WXTOKEN_BENCH_KEY"), "bearer API key (default $WXTOKEN_BENCH_KEY)")
	fs.IntVar(&c.connections, "c", 64, "keep-alive connections, each with one request in flight")
	fs.DurationVar(&c.duration, "d", 10*time.Second, "measured duration")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "load before the measurement starts, not counted")
	fs.IntVar(&c.authorizers, "authorizers", 10000, "use at most this many appids")
	fs.StringVar(&c.appIDsFile, "appids", "", "file of appids, one per line (default: list them through the API)")
	fs.StringVar(&c.path, "path", "/v1/authorizers/{appid}/token", "request path; {appid} is replaced")
	fs.StringVar(&c.check, "check", `"authorizer_access_token":"`, "a 2xx answer must contain this, or it counts as bad (\"\" disables)")
	fs.BoolVar(&c.jsonOut, "json", false, "print the result as JSON")
	fs.IntVar(&c.serverPID, "server-pid", 0, "also report the CPU time this process (the server) spends per request, from /proc")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.connections < 1 || c.duration <= 0 || c.warmup < 0 || c.authorizers < 1 {
		return c, errors.New("-c and -authorizers must be positive, -d positive, -warmup not negative")
	}
	return c, nil
}

// result is what a run measured.
type result struct {
	Target      string  `json:"target"`
	Connections int     `json:"connections"`
	AppIDs      int     `json:"appids"`
	Seconds     float64 `json:"seconds"`
	Requests    uint64  `json:"requests"`
	// Errors are failed connections or unparsable answers; Bad are answers
	// that are not 2xx or lack the -check text.
	Errors uint64  `json:"errors"`
	Bad    uint64  `json:"bad"`
	RPS    float64 `json:"requests_per_second"`
	P50ms  float64 `json:"p50_ms"`
	P90ms  float64 `json:"p90_ms"`
	P99ms  float64 `json:"p99_ms"`
	P999ms float64 `json:"p99_9_ms"`
	MaxMs  float64 `json:"max_ms"`
	Conns  int64   `json:"connections_opened"`
	// CPU time per measured request, in microseconds: the server's (with
	// -server-pid) and the load generator's own.
	ServerCPUus float64 `json:"server_cpu_us_per_request,omitempty"`
	ClientCPUus float64 `json:"loadgen_cpu_us_per_request"`
	hist        *histogram
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	base, err := url.Parse(cfg.url)
	if err != nil || base.Scheme != "http" || base.Host == "" {
		return fmt.Errorf("-url must be an http:// URL (got %q)", cfg.url)
	}
	appIDs, err := loadAppIDs(ctx, cfg)
	if err != nil {
		return err
	}
	if len(appIDs) == 0 {
		return errors.New("no appids to request: authorize some accounts or pass -appids")
	}
	res, err := load(ctx, cfg, base, appIDs)
	if err != nil {
		return err
	}
	if cfg.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printResult(stdout, res)
	return nil
}

func loadAppIDs(ctx context.Context, cfg config) ([]string, error) {
	if cfg.appIDsFile != "" {
		data, err := os.ReadFile(cfg.appIDsFile)
		if err != nil {
			return nil, err
		}
		var ids []string
		for line := range strings.Lines(string(data)) {
			if id := strings.TrimSpace(line); id != "" && !strings.HasPrefix(id, "#") {
				ids = append(ids, id)
				if len(ids) == cfg.authorizers {
					break
				}
			}
		}
		return ids, nil
	}
	c := client.New(cfg.url, cfg.key)
	var ids []string
	for cursor := ""; len(ids) < cfg.authorizers; {
		page, err := c.Authorizers(ctx, cursor, 1000)
		if err != nil {
			return nil, fmt.Errorf("listing authorizers: %w", err)
		}
		for _, a := range page.Authorizers {
			if a.State == wxtoken.StateAuthorized && len(ids) < cfg.authorizers {
				ids = append(ids, a.AppID)
			}
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	return ids, nil
}

// load runs the workers and merges what they measured.
func load(ctx context.Context, cfg config, base *url.URL, appIDs []string) (*result, error) {
	requests := make([][]byte, len(appIDs))
	host := base.Host
	addr := host
	if base.Port() == "" {
		addr = net.JoinHostPort(base.Hostname(), "80")
	}
	prefix := strings.TrimRight(base.Path, "/")
	for i, id := range appIDs {
		path := prefix + strings.ReplaceAll(cfg.path, "{appid}", url.PathEscape(id))
		var b bytes.Buffer
		fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: wxtoken-bench\r\nAccept: application/json\r\n", path, host)
		if cfg.key != "" {
			fmt.Fprintf(&b, "Authorization: Bearer %s\r\n", cfg.key)
		}
		b.WriteString("\r\n")
		requests[i] = b.Bytes()
	}

	start := time.Now()
	measureFrom := start.Add(cfg.warmup)
	end := measureFrom.Add(cfg.duration)
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()

	workers := make([]*worker, cfg.connections)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{
			addr: addr, requests: requests, check: []byte(cfg.check),
			rng:         rand.New(rand.NewPCG(uint64(i), 0x5eed)),
			measureFrom: measureFrom, end: end,
		}
		workers[i] = w
		wg.Add(1)
		go func() { defer wg.Done(); w.run(ctx) }()
	}
	cpu := measureCPU(ctx, cfg.serverPID, measureFrom, end)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return nil, err
	}
	usage := <-cpu

	res := &result{
		Target:      "GET " + cfg.url + cfg.path,
		Connections: cfg.connections,
		AppIDs:      len(appIDs),
		Seconds:     cfg.duration.Seconds(),
		hist:        &histogram{},
	}
	for _, w := range workers {
		res.hist.merge(&w.hist)
		res.Errors += w.errors
		res.Bad += w.bad
		res.Conns += w.dials
	}
	res.Requests = res.hist.total
	res.RPS = float64(res.Requests) / cfg.duration.Seconds()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	res.P50ms = ms(res.hist.quantile(0.50))
	res.P90ms = ms(res.hist.quantile(0.90))
	res.P99ms = ms(res.hist.quantile(0.99))
	res.P999ms = ms(res.hist.quantile(0.999))
	res.MaxMs = ms(res.hist.max)
	if res.Requests > 0 {
		perRequest := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 / float64(res.Requests) }
		res.ClientCPUus = perRequest(usage.client)
		if cfg.serverPID != 0 {
			if usage.serverErr != nil {
				return nil, fmt.Errorf("-server-pid: %w", usage.serverErr)
			}
			res.ServerCPUus = perRequest(usage.server)
		}
	}
	return res, nil
}

type cpuUsage struct {
	client, server time.Duration
	serverErr      error
}

// measureCPU samples the CPU time of this process and of the server at the
// start and the end of the measured window.
func measureCPU(ctx context.Context, serverPID int, from, to time.Time) <-chan cpuUsage {
	out := make(chan cpuUsage, 1)
	go func() {
		var u cpuUsage
		sample := func() (time.Duration, time.Duration) {
			var server time.Duration
			if serverPID != 0 && u.serverErr == nil {
				server, u.serverErr = processCPU(serverPID)
			}
			return selfCPU(), server
		}
		wait := func(t time.Time) {
			timer := time.NewTimer(time.Until(t))
			defer timer.Stop()
			select {
			case <-ctx.Done():
			case <-timer.C:
			}
		}
		wait(from)
		c0, s0 := sample()
		wait(to)
		c1, s1 := sample()
		u.client, u.server = c1-c0, s1-s0
		out <- u
	}()
	return out
}

func printResult(w io.Writer, r *result) {
	fmt.Fprintf(w, "%s\n", r.Target)
	fmt.Fprintf(w, "  %d connections (keep-alive, %d opened), %d appids, %.0fs measured\n", r.Connections, r.Conns, r.AppIDs, r.Seconds)
	fmt.Fprintf(w, "  requests %d   errors %d   bad answers %d\n", r.Requests, r.Errors, r.Bad)
	fmt.Fprintf(w, "  rate     %.0f requests/s\n", r.RPS)
	fmt.Fprintf(w, "  latency  p50 %.3f ms   p90 %.3f ms   p99 %.3f ms   p99.9 %.3f ms   max %.3f ms\n",
		r.P50ms, r.P90ms, r.P99ms, r.P999ms, r.MaxMs)
	if r.ServerCPUus > 0 {
		fmt.Fprintf(w, "  cpu      server %.1f µs/request   load generator %.1f µs/request\n", r.ServerCPUus, r.ClientCPUus)
	} else {
		fmt.Fprintf(w, "  cpu      load generator %.1f µs/request\n", r.ClientCPUus)
	}
}

// worker owns one connection and sends requests on it back to back.
type worker struct {
	addr        string
	requests    [][]byte
	check       []byte
	rng         *rand.Rand
	measureFrom time.Time
	end         time.Time

	conn   net.Conn
	r      *bufio.Reader
	hist   histogram
	errors uint64
	bad    uint64
	dials  int64
}

func (w *worker) run(ctx context.Context) {
	defer func() {
		if w.conn != nil {
			w.conn.Close()
		}
	}()
	for ctx.Err() == nil {
		if w.conn == nil && !w.dial(ctx) {
			continue
		}
		req := w.requests[w.rng.IntN(len(w.requests))]
		began := time.Now()
		status, body, keep, err := w.roundTrip(req)
		done := time.Now()
		if done.After(w.end) {
			return // the answer came after the end: not counted, like wrk
		}
		measured := !began.Before(w.measureFrom)
		if err != nil {
			if measured && ctx.Err() == nil {
				w.errors++
			}
			w.closeConn()
			continue
		}
		if measured {
			w.hist.record(done.Sub(began))
			if status < 200 || status > 299 || (len(w.check) > 0 && !bytes.Contains(body, w.check)) {
				w.bad++
			}
		}
		if !keep {
			w.closeConn()
		}
	}
}

func (w *worker) dial(ctx context.Context) bool {
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", w.addr)
	if err != nil {
		if ctx.Err() == nil {
			w.errors++
			// A server that refuses connections would otherwise be dialled
			// in a busy loop.
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
		return false
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	// One deadline for the whole run: a server that stops answering cannot
	// hang the generator past the end.
	conn.SetDeadline(w.end.Add(5 * time.Second))
	w.conn, w.r = conn, bufio.NewReaderSize(conn, 16<<10)
	w.dials++
	return true
}

func (w *worker) closeConn() {
	if w.conn != nil {
		w.conn.Close()
		w.conn, w.r = nil, nil
	}
}

// roundTrip writes req and reads one answer. body is valid until the next
// call.
func (w *worker) roundTrip(req []byte) (status int, body []byte, keepAlive bool, err error) {
	if _, err := w.conn.Write(req); err != nil {
		return 0, nil, false, err
	}
	return readResponse(w.r)
}

var errMalformed = errors.New("malformed HTTP answer")

// maxBody caps the answers read: the token API's are about 200 bytes.
const maxBody = 1 << 20

// readResponse reads one HTTP/1.1 answer: status line, headers, and a body
// framed by Content-Length or chunked encoding.
func readResponse(r *bufio.Reader) (status int, body []byte, keepAlive bool, err error) {
	line, err := readLine(r)
	if err != nil {
		return 0, nil, false, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, nil, false, errMalformed
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, false, errMalformed
	}
	keepAlive = line[7] == '1'
	length, chunked := -1, false
	for {
		line, err := readLine(r)
		if err != nil {
			return 0, nil, false, err
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, nil, false, errMalformed
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.Atoi(string(value))
			if err != nil || n < 0 {
				return 0, nil, false, errMalformed
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				keepAlive = false
			} else if bytes.EqualFold(value, []byte("keep-alive")) {
				keepAlive = true
			}
		}
	}
	switch {
	case status == 204 || status == 304 || status/100 == 1:
		return status, nil, keepAlive, nil
	case chunked:
		body, err = readChunked(r)
		return status, body, keepAlive, err
	case length >= 0:
		if length > maxBody {
			return 0, nil, false, errMalformed
		}
		if length <= r.Size() {
			// The common case: the body fits the buffer and is not copied.
			b, err := r.Peek(length)
			if err != nil {
				return 0, nil, false, err
			}
			r.Discard(length)
			return status, b, keepAlive, nil
		}
		b := make([]byte, length)
		_, err := io.ReadFull(r, b)
		return status, b, keepAlive, err
	}
	// No framing: the body runs to the end of the connection.
	b, err := io.ReadAll(io.LimitReader(r, maxBody))
	return status, b, false, err
}

func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errMalformed
		}
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

func readChunked(r *bufio.Reader) ([]byte, error) {
	var body []byte
	for {
		line, err := readLine(r)
		if err != nil {
			return nil, err
		}
		sizeText, _, _ := bytes.Cut(line, []byte(";"))
		size, err := strconv.ParseInt(string(bytes.TrimSpace(sizeText)), 16, 32)
		if err != nil || size < 0 || len(body)+int(size) > maxBody {
			return nil, errMalformed
		}
		if size == 0 {
			// Trailers end with an empty line.
			for {
				line, err := readLine(r)
				if err != nil {
					return nil, err
				}
				if len(line) == 0 {
					return body, nil
				}
			}
		}
		start := len(body)
		body = append(body, make([]byte, size)...)
		if _, err := io.ReadFull(r, body[start:]); err != nil {
			return nil, err
		}
		if line, err := readLine(r); err != nil || len(line) != 0 {
			return nil, errMalformed
		}
	}
}
