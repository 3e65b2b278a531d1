package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func newRequest(ctx context.Context, i int) *request {
	return &request{ctx: ctx, input: json.RawMessage(strconv.Itoa(i)), answer: make(chan result, 1)}
}

func TestQueueKeepsOrderAndLimits(t *testing.T) {
	q := &queue{limit: 3, ready: make(chan struct{}, 1)}
	for i := range 3 {
		if err := q.push(newRequest(context.Background(), i)); err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
	}
	if err := q.push(newRequest(context.Background(), 3)); err != errQueueFull {
		t.Fatalf("a fourth request in a queue of 3: got %v, want errQueueFull", err)
	}
	batch := q.take(2)
	if len(batch) != 2 || string(batch[0].input) != "0" || string(batch[1].input) != "1" {
		t.Fatalf("take(2) = %d requests, want the first two in order", len(batch))
	}
	if q.size() != 1 {
		t.Fatalf("left in the queue: %d, want 1", q.size())
	}
}

func TestQueueSkipsRequestsWhoseClientLeft(t *testing.T) {
	q := &queue{ready: make(chan struct{}, 1)}
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	q.push(newRequest(gone, 0))
	q.push(newRequest(context.Background(), 1))
	batch := q.take(0) // no limit
	if len(batch) != 1 || string(batch[0].input) != "1" {
		t.Fatalf("take skipped nothing: %d requests", len(batch))
	}
	if q.size() != 0 {
		t.Fatalf("the cancelled request is still queued")
	}
}

// fakeWorker answers each input with itself and records the batch sizes it was sent.
func fakeWorker(t *testing.T, status int, delay time.Duration) (*httptest.Server, func() []int) {
	var mu sync.Mutex
	var sizes []int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stats" {
			w.Write([]byte(`{"rss_mb": 1}`))
			return
		}
		var body struct {
			Inputs []json.RawMessage `json:"inputs"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		sizes = append(sizes, len(body.Inputs))
		mu.Unlock()
		time.Sleep(delay)
		if status != http.StatusOK {
			http.Error(w, "out of memory", status)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"outputs": body.Inputs})
	}))
	t.Cleanup(srv.Close)
	return srv, func() []int { mu.Lock(); defer mu.Unlock(); return append([]int(nil), sizes...) }
}

// gateway starts the handler and the dispatcher with cfg; it sends n requests at once and
// returns each response's status, X-Batch-Size, Retry-After and body.
func gateway(t *testing.T, cfg config, n int) []*httptest.ResponseRecorder {
	q := &queue{limit: cfg.maxQueue, ready: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go dispatch(ctx, cfg, q, &http.Client{Timeout: 5 * time.Second})
	handler := inferHandler(cfg, q)
	answers := make([]*httptest.ResponseRecorder, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = httptest.NewRecorder()
			handler(answers[i], httptest.NewRequest("POST", "/v1/infer", strings.NewReader(strconv.Itoa(i))))
		}()
	}
	wg.Wait()
	return answers
}

func TestBatchesAreBoundedAndEachRequestGetsItsOwnAnswer(t *testing.T) {
	worker, sizes := fakeWorker(t, http.StatusOK, 20*time.Millisecond)
	answers := gateway(t, config{workerURL: worker.URL, maxBatch: 4, maxDelay: 10 * time.Millisecond, retryAfterS: 1}, 12)
	for i, a := range answers {
		if a.Code != http.StatusOK || a.Body.String() != strconv.Itoa(i) {
			t.Fatalf("request %d: %d %q, want 200 and its own input back", i, a.Code, a.Body.String())
		}
		if n, _ := strconv.Atoi(a.Header().Get("X-Batch-Size")); n < 1 || n > 4 {
			t.Fatalf("request %d: X-Batch-Size %q, want 1..4", i, a.Header().Get("X-Batch-Size"))
		}
	}
	got, largest := sizes(), 0
	for _, n := range got {
		largest = max(largest, n)
	}
	if largest > 4 || largest < 2 {
		t.Fatalf("batch sizes %v: want some batching and none above MAX_BATCH 4", got)
	}
}

func TestAFullQueueAnswers429WithRetryAfter(t *testing.T) {
	worker, _ := fakeWorker(t, http.StatusOK, 200*time.Millisecond)
	answers := gateway(t, config{workerURL: worker.URL, maxBatch: 1, maxQueue: 2, retryAfterS: 7}, 8)
	rejected := 0
	for _, a := range answers {
		if a.Code == http.StatusTooManyRequests {
			rejected++
			if a.Header().Get("Retry-After") != "7" {
				t.Fatalf("a 429 without Retry-After: 7 (%q)", a.Header().Get("Retry-After"))
			}
		}
	}
	if rejected == 0 {
		t.Fatal("8 requests at once on a queue of 2: none was rejected")
	}
}

func TestAFailingWorkerGives503WithRetryAfter(t *testing.T) {
	worker, _ := fakeWorker(t, 507, 0)
	answers := gateway(t, config{workerURL: worker.URL, maxBatch: 8, maxDelay: time.Millisecond, retryAfterS: 3}, 3)
	for i, a := range answers {
		if a.Code != http.StatusServiceUnavailable || a.Header().Get("Retry-After") != "3" {
			t.Fatalf("request %d: %d, Retry-After %q; want 503 and 3", i, a.Code, a.Header().Get("Retry-After"))
		}
	}
}
