package agent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/cmtls/cmtls/daemon/cmserver"
)

// LoadOptions describe a heartbeat load: Agents simulated agents, each
// heartbeating every Interval over a new TLS connection that resumes the
// agent's previous session (as a real agent's per-heartbeat connection
// does), spread evenly over the interval.
type LoadOptions struct {
	Addr       string // the server's agent port, host:port
	ServerName string
	RootCAs    *x509.CertPool
	Agents     int
	Interval   time.Duration
	// Ramp spreads the agents' first (full) handshakes, as agents started
	// over time do (default: one Interval). Warmup is not measured; Measure
	// is, and starts after Warmup.
	Ramp, Warmup, Measure time.Duration
	// MaxVersion caps the TLS version. Real agents (Python 2.7 with
	// M2Crypto) speak at most TLS 1.2, where a resumed session needs no key
	// exchange; 0 allows TLS 1.3 with classic X25519.
	MaxVersion uint16
}

// LoadResult are the measured figures.
type LoadResult struct {
	Heartbeats, Errors, Resumed int
	Elapsed                     time.Duration
	PerSecond                   float64
	P50, P90, P99, Max          time.Duration
	FirstError                  string
}

func (r LoadResult) String() string {
	s := fmt.Sprintf("%d heartbeats in %v (%.0f/s), %d errors, %d resumed; latency p50 %v p90 %v p99 %v max %v",
		r.Heartbeats, r.Elapsed.Round(time.Millisecond), r.PerSecond, r.Errors, r.Resumed,
		r.P50.Round(time.Microsecond), r.P90.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Max.Round(time.Microsecond))
	if r.FirstError != "" {
		s += "; first error: " + r.FirstError
	}
	return s
}

// LoadTest runs the load and returns the figures of the measured window.
func LoadTest(ctx context.Context, o LoadOptions) LoadResult {
	start := time.Now()
	measureFrom := start.Add(o.Warmup)
	end := measureFrom.Add(o.Measure)
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	var mu sync.Mutex
	var lat []time.Duration
	var res LoadResult
	var wg sync.WaitGroup
	for i := 0; i < o.Agents; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cfg := &tls.Config{RootCAs: o.RootCAs, ServerName: o.ServerName, MinVersion: tls.VersionTLS12,
				MaxVersion: o.MaxVersion, CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256},
				ClientSessionCache: tls.NewLRUClientSessionCache(1)}
			// Each simulated agent has its own loopback address when the
			// server is on loopback, as real agents have their own hosts: one
			// source address for 10,000 agents would recycle its ephemeral
			// ports faster than TCP's TIME_WAIT, an artefact of the harness.
			src := loadSourceIP(o.Addr, i)
			ip := "127.0.0.1"
			if src != nil {
				ip = src.String()
			}
			body, _ := json.Marshal(cmserver.Heartbeat{HostID: fmt.Sprintf("load-%06d", i), Hostname: fmt.Sprintf("load%06d.example.com", i),
				IPAddress: ip, AgentVersion: Version, TLS: cmserver.TLSState{Enabled: true, Verified: true}})
			ramp := o.Ramp
			if ramp == 0 {
				ramp = o.Interval
			}
			// Start within the ramp, on the agent's slot of the interval, so
			// that the steady load is even.
			slot := time.Duration(int64(o.Interval) * int64(i) / int64(o.Agents))
			k := max(1, int(ramp/o.Interval)) // intervals in the ramp
			offset := slot + o.Interval*time.Duration(i%k)
			t := time.NewTimer(offset)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				t.Reset(o.Interval)
				began := time.Now()
				resumed, err := oneHeartbeat(ctx, o.Addr, src, cfg, body)
				d := time.Since(began)
				if began.Before(measureFrom) || ctx.Err() != nil {
					continue
				}
				mu.Lock()
				if err != nil {
					res.Errors++
					if res.FirstError == "" {
						res.FirstError = err.Error()
					}
				} else {
					lat = append(lat, d)
					if resumed {
						res.Resumed++
					}
				}
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	res.Elapsed = o.Measure
	res.Heartbeats = len(lat)
	res.PerSecond = float64(len(lat)) / o.Measure.Seconds()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	res.P50, res.P90, res.P99 = q(0.50), q(0.90), q(0.99)
	if len(lat) > 0 {
		res.Max = lat[len(lat)-1]
	}
	return res
}

// oneHeartbeat is one agent heartbeat on a fresh TLS connection.
func oneHeartbeat(ctx context.Context, addr string, src net.IP, cfg *tls.Config, body []byte) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	nd := &net.Dialer{}
	if src != nil {
		nd.LocalAddr = &net.TCPAddr{IP: src}
	}
	d := tls.Dialer{NetDialer: nd, Config: cfg}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false, err
	}
	defer c.Close()
	tc := c.(*tls.Conn)
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	var req bytes.Buffer
	fmt.Fprintf(&req, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
		cmserver.HeartbeatPath, cfg.ServerName, len(body))
	req.Write(body)
	if _, err := c.Write(req.Bytes()); err != nil {
		return false, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return false, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("heartbeat: %s", resp.Status)
	}
	return tc.ConnectionState().DidResume, nil
}

// loadSourceIP is agent i's address in 127.1.0.0/16 when addr is an IPv4
// loopback address, else nil (the system picks).
func loadSourceIP(addr string, i int) net.IP {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.To4() == nil || !ip.IsLoopback() {
		return nil
	}
	return net.IPv4(127, 1, byte(i/250), byte(i%250+1))
}
