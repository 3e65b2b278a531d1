// The GPU labs' inference gateway (chapter 5): a Go HTTP server in front of one model
// worker (python -m gopitfalls.modelworker), doing what Triton's dynamic batcher does.
//
// A request (POST /v1/infer, one input) waits in a queue; one dispatcher takes up to
// MAX_BATCH waiting requests, waiting at most MAX_DELAY_MS after the first for more, sends
// them to the worker as one batch (one forward pass) and hands each request its answer.
//
// Settings (environment), all of them what the labs change:
//
//	ADDR          where to listen (the engine gives a free 127.0.0.1 port)
//	WORKER_URL    the model worker's base URL
//	MAX_BATCH     the most requests in one batch; 1 = no batching; 0 = no limit (gpu-03's
//	              pitfall: a batch takes everything waiting)
//	MAX_DELAY_MS  how long the first request of a batch may wait for more (default 2)
//	MAX_QUEUE     the most requests waiting; past it, 429 with Retry-After; 0 = no limit
//	RETRY_AFTER_S the Retry-After a 429 or 503 carries (default 1)
//
// What it counts is published with expvar (the engine's probe samples it): queue_length,
// batches, batch_sizes (a map: size -> batches), largest_batch, rejected_full,
// rejected_unavailable, worker_errors, and the worker's own gauges (worker_rss_mb,
// worker_device_mb, worker_up) polled from its /stats every 100 ms.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
)

var (
	queueLength         = expvar.NewInt("queue_length")
	batches             = expvar.NewInt("batches")
	batchSizes          = expvar.NewMap("batch_sizes")
	largestBatch        = expvar.NewInt("largest_batch")
	rejectedFull        = expvar.NewInt("rejected_full")
	rejectedUnavailable = expvar.NewInt("rejected_unavailable")
	workerErrors        = expvar.NewInt("worker_errors")
	workerRSS           = expvar.NewFloat("worker_rss_mb")
	workerDevice        = expvar.NewFloat("worker_device_mb")
	workerUp            = expvar.NewInt("worker_up")
)

type config struct {
	workerURL   string
	maxBatch    int // 0: no limit
	maxDelay    time.Duration
	maxQueue    int // 0: no limit
	retryAfterS int
}

// request is one waiting inference: its input, and where its answer goes.
type request struct {
	ctx    context.Context
	input  json.RawMessage
	answer chan result
}

type result struct {
	output    json.RawMessage
	batchSize int
	err       error
}

// queue holds the waiting requests in arrival order; ready is signalled on each push.
type queue struct {
	mu      sync.Mutex
	waiting []*request
	limit   int
	ready   chan struct{}
}

var errQueueFull = errors.New("queue full")

func (q *queue) push(r *request) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.limit > 0 && len(q.waiting) >= q.limit {
		return errQueueFull
	}
	q.waiting = append(q.waiting, r)
	queueLength.Set(int64(len(q.waiting)))
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return nil
}

// take removes up to max requests (all of them when max is 0), skipping those whose
// client has gone: computing an answer nobody waits for only makes the queue longer.
func (q *queue) take(max int) []*request {
	q.mu.Lock()
	defer q.mu.Unlock()
	var batch []*request
	kept := q.waiting[:0]
	for _, r := range q.waiting {
		switch {
		case r.ctx.Err() != nil:
		case max == 0 || len(batch) < max:
			batch = append(batch, r)
		default:
			kept = append(kept, r)
		}
	}
	clear(q.waiting[len(kept):]) // let the taken requests be collected
	q.waiting = kept
	queueLength.Set(int64(len(q.waiting)))
	return batch
}

func (q *queue) size() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting)
}

// dispatch is the one model instance: it forms a batch, runs it, answers, and repeats.
func dispatch(ctx context.Context, cfg config, q *queue, worker *http.Client) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.ready:
		}
		// The first request is here; wait up to maxDelay for the batch to fill.
		deadline := time.Now().Add(cfg.maxDelay)
		for (cfg.maxBatch == 0 || q.size() < cfg.maxBatch) && time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return
			case <-q.ready:
			case <-time.After(time.Until(deadline)):
			}
		}
		for {
			batch := q.take(cfg.maxBatch)
			if len(batch) == 0 {
				break
			}
			runBatch(ctx, cfg, worker, batch)
			if q.size() == 0 {
				break
			}
			// More waited while this batch ran: they have waited long enough already.
		}
	}
}

func runBatch(ctx context.Context, cfg config, worker *http.Client, batch []*request) {
	n := len(batch)
	batches.Add(1)
	batchSizes.Add(strconv.Itoa(n), 1)
	if int64(n) > largestBatch.Value() {
		largestBatch.Set(int64(n))
	}
	inputs := make([]json.RawMessage, n)
	for i, r := range batch {
		inputs[i] = r.input
	}
	outputs, err := callWorker(ctx, cfg, worker, inputs)
	if err == nil && len(outputs) != n {
		err = fmt.Errorf("worker answered %d outputs for %d inputs", len(outputs), n)
	}
	if err != nil {
		workerErrors.Add(1)
	}
	for i, r := range batch {
		res := result{batchSize: n, err: err}
		if err == nil {
			res.output = outputs[i]
		}
		r.answer <- res // buffered: a client that left does not block the dispatcher
	}
}

func callWorker(ctx context.Context, cfg config, worker *http.Client, inputs []json.RawMessage) ([]json.RawMessage, error) {
	body, err := json.Marshal(map[string]any{"inputs": inputs})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.workerURL+"/batch", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := worker.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("worker: %s: %s", resp.Status, bytes.TrimSpace(data))
	}
	var answer struct {
		Outputs []json.RawMessage `json:"outputs"`
	}
	if err := json.Unmarshal(data, &answer); err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	return answer.Outputs, nil
}

// pollWorker copies the worker's gauges into expvar, so they are sampled with the rest.
func pollWorker(ctx context.Context, cfg config) {
	client := &http.Client{Timeout: 500 * time.Millisecond}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var stats struct {
			RSSMB    float64 `json:"rss_mb"`
			DeviceMB float64 `json:"device_mb"`
		}
		resp, err := client.Get(cfg.workerURL + "/stats")
		if err == nil {
			err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&stats)
			resp.Body.Close()
		}
		if err == nil {
			workerUp.Set(1)
			workerRSS.Set(stats.RSSMB)
			workerDevice.Set(stats.DeviceMB)
		} else {
			workerUp.Set(0)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func inferHandler(cfg config, q *queue) http.HandlerFunc {
	retryAfter := strconv.Itoa(cfg.retryAfterS)
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST an input", http.StatusMethodNotAllowed)
			return
		}
		input, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil || !json.Valid(input) {
			http.Error(w, "the body must be one JSON input", http.StatusBadRequest)
			return
		}
		req := &request{ctx: r.Context(), input: input, answer: make(chan result, 1)}
		if err := q.push(req); err != nil {
			rejectedFull.Add(1)
			w.Header().Set("Retry-After", retryAfter)
			http.Error(w, "too many requests waiting; retry later", http.StatusTooManyRequests)
			return
		}
		select {
		case <-r.Context().Done():
			return // the client left; take() skips its request
		case res := <-req.answer:
			if res.err != nil {
				rejectedUnavailable.Add(1)
				w.Header().Set("Retry-After", retryAfter)
				http.Error(w, "the model is unavailable", http.StatusServiceUnavailable)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Batch-Size", strconv.Itoa(res.batchSize))
			w.Write(res.output)
		}
	}
}

func envInt(name string, fallback int) int {
	v := os.Getenv(name)
	if v == "" {
		return fallback
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		slog.Error("bad setting", "name", name, "value", v, "want", "a whole number >= 0")
		os.Exit(2)
	}
	return n
}

func main() {
	cfg := config{
		workerURL:   os.Getenv("WORKER_URL"),
		maxBatch:    envInt("MAX_BATCH", 1),
		maxDelay:    time.Duration(envInt("MAX_DELAY_MS", 2)) * time.Millisecond,
		maxQueue:    envInt("MAX_QUEUE", 0),
		retryAfterS: envInt("RETRY_AFTER_S", 1),
	}
	if cfg.workerURL == "" {
		slog.Error("WORKER_URL is not set: start the model worker first (gopitfalls.serving does)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	q := &queue{limit: cfg.maxQueue, ready: make(chan struct{}, 1)}
	// One connection to the worker is enough: one batch is in flight at a time.
	worker := &http.Client{Timeout: 120 * time.Second}
	go dispatch(ctx, cfg, q, worker)
	go pollWorker(ctx, cfg)

	mux := http.NewServeMux()
	mux.HandleFunc("/v1/infer", inferHandler(cfg, q))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.Handle("GET /debug/vars", expvar.Handler())
	srv := &http.Server{Addr: os.Getenv("ADDR"), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	slog.Info("gateway listening", "addr", srv.Addr, "max_batch", cfg.maxBatch,
		"max_delay", cfg.maxDelay, "max_queue", cfg.maxQueue)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		slog.Error("listen", "err", err)
		os.Exit(1)
	}
}
