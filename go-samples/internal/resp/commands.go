package resp

import (
	"context"
	"fmt"
	"time"
)

// The commands the lessons use, typed. Anything else goes through Do.

// Ping checks that the server answers.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.Do(ctx, "PING")
	return err
}

// Get returns the value of key; found is false when the key does not exist (a
// nil reply), which is not an error: a cache miss is a normal answer.
func (c *Client) Get(ctx context.Context, key string) (value string, found bool, err error) {
	v, err := c.Do(ctx, "GET", key)
	if err != nil || v == nil {
		return "", false, err
	}
	s, err := asString(v)
	return s, err == nil, err
}

// Set stores value under key. A ttl above zero makes the key expire (EX in
// whole seconds, else PX in milliseconds); zero keeps it until deleted.
func (c *Client) Set(ctx context.Context, key, value string, ttl time.Duration) error {
	_, err := c.Do(ctx, append([]any{"SET", key, value}, expiry(ttl)...)...)
	return err
}

// SetNX stores value only if key does not exist yet (SET ... NX), atomically:
// of many callers racing for the same key, exactly one gets true. It is the
// building block of a lock or of "only one request refills the cache".
func (c *Client) SetNX(ctx context.Context, key, value string, ttl time.Duration) (bool, error) {
	v, err := c.Do(ctx, append([]any{"SET", key, value, "NX"}, expiry(ttl)...)...)
	return v != nil, err // nil reply: the key existed, nothing was set
}

func expiry(ttl time.Duration) []any {
	switch {
	case ttl <= 0:
		return nil
	case ttl%time.Second == 0:
		return []any{"EX", int64(ttl / time.Second)}
	}
	return []any{"PX", max(int64(ttl/time.Millisecond), 1)}
}

// Del deletes keys and returns how many existed.
func (c *Client) Del(ctx context.Context, keys ...string) (int64, error) {
	return asInt(c.Do(ctx, append([]any{"DEL"}, anys(keys)...)...))
}

// Expire sets a key's time to live (EXPIRE in seconds, PEXPIRE if ttl has a
// fraction of one); false if the key does not exist.
func (c *Client) Expire(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	var n int64
	var err error
	if ttl%time.Second == 0 {
		n, err = asInt(c.Do(ctx, "EXPIRE", key, int64(ttl/time.Second)))
	} else {
		n, err = asInt(c.Do(ctx, "PEXPIRE", key, int64(ttl/time.Millisecond)))
	}
	return n == 1, err
}

// The two negative answers of TTL, as Redis gives them (and go-redis too).
const (
	NoExpiry time.Duration = -1 // the key exists and never expires
	NoKey    time.Duration = -2 // the key does not exist
)

// TTL returns how long key has left, in whole seconds, or NoExpiry or NoKey.
func (c *Client) TTL(ctx context.Context, key string) (time.Duration, error) {
	n, err := asInt(c.Do(ctx, "TTL", key))
	if err != nil || n < 0 {
		return time.Duration(n), err
	}
	return time.Duration(n) * time.Second, nil
}

// Incr adds one to the integer at key (a missing key counts as 0), atomically,
// and returns the new value.
func (c *Client) Incr(ctx context.Context, key string) (int64, error) {
	return asInt(c.Do(ctx, "INCR", key))
}

// FlushDB deletes every key of the current database.
func (c *Client) FlushDB(ctx context.Context) error {
	_, err := c.Do(ctx, "FLUSHDB")
	return err
}

// MGet returns the values of keys in one round trip; a missing key is a nil
// pointer.
func (c *Client) MGet(ctx context.Context, keys ...string) ([]*string, error) {
	v, err := c.Do(ctx, append([]any{"MGET"}, anys(keys)...)...)
	if err != nil {
		return nil, err
	}
	items, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("redis: MGET replied %T", v)
	}
	values := make([]*string, len(items))
	for i, item := range items {
		if item != nil {
			s, err := asString(item)
			if err != nil {
				return nil, err
			}
			values[i] = &s
		}
	}
	return values, nil
}

func anys(ss []string) []any {
	args := make([]any, len(ss))
	for i, s := range ss {
		args[i] = s
	}
	return args
}

func asString(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("redis: expected a string reply, got %T", v)
	}
	return s, nil
}

func asInt(v any, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	n, ok := v.(int64)
	if !ok {
		return 0, fmt.Errorf("redis: expected an integer reply, got %T", v)
	}
	return n, nil
}
