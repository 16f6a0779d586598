package cmapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// DefaultCommandTimeout bounds a command wait: a real CM takes minutes to
// restart a service.
const DefaultCommandTimeout = 5 * time.Minute

// Command is CM's ApiCommand.
type Command struct {
	ID            int64  `json:"id"`
	Name          string `json:"name"`
	StartTime     string `json:"startTime,omitempty"`
	EndTime       string `json:"endTime,omitempty"`
	Active        bool   `json:"active"`
	Success       *bool  `json:"success,omitempty"`
	ResultMessage string `json:"resultMessage,omitempty"`
}

// maxCommandBody bounds a command answer.
const maxCommandBody = 1 << 20

// ParseCommand decodes an ApiCommand answer.
func ParseCommand(b []byte) (Command, error) {
	var cmd Command
	if len(b) > maxCommandBody {
		return cmd, fmt.Errorf("cm api command: answer larger than %d bytes", maxCommandBody)
	}
	if err := json.Unmarshal(b, &cmd); err != nil {
		return Command{}, fmt.Errorf("cm api command: bad JSON: %w", err)
	}
	if cmd.ID < 0 && cmd.Active {
		// CM: "asynchronous commands ... have non-negative command IDs".
		return Command{}, fmt.Errorf("cm api command %d: an active command has a negative id", cmd.ID)
	}
	return cmd, nil
}

// CommandError is a command CM ran and reports as failed.
type CommandError struct {
	Command Command
}

func (e *CommandError) Error() string {
	msg := e.Command.ResultMessage
	if msg == "" {
		msg = "no result message"
	}
	return fmt.Sprintf("cm command %s (id %d) failed: %s", e.Command.Name, e.Command.ID, msg)
}

// CommandTimeoutError is a command still active when the wait ended.
type CommandTimeoutError struct {
	Command Command
	Waited  time.Duration
}

func (e *CommandTimeoutError) Error() string {
	return fmt.Sprintf("cm command %s (id %d) still active after %s", e.Command.Name, e.Command.ID, e.Waited.Round(time.Second))
}

// Hint names the next step.
func (e *CommandTimeoutError) Hint() string {
	return "follow it in CM (Running Commands); a longer wait is set with the answers file's wait settings"
}

// postCommand POSTs a command and decodes the ApiCommand CM answers (201
// in v45, 200 before).
func (c *Client) postCommand(ctx context.Context, path string) (Command, error) {
	v, err := c.APIVersion(ctx)
	if err != nil {
		return Command{}, err
	}
	b, err := c.do(ctx, http.MethodPost, "/api/"+v+path, nil)
	if err != nil {
		return Command{}, err
	}
	return ParseCommand(b)
}

// runCommand POSTs a command and waits for its end. A command that ended
// already (a synchronous one: "their results are passed back in the
// return object", CM's API definition) is not polled.
func (c *Client) runCommand(ctx context.Context, path string) (Command, error) {
	cmd, err := c.postCommand(ctx, path)
	if err != nil {
		return cmd, err
	}
	if cmd.Active {
		return c.WaitCommand(ctx, cmd.ID, c.commandTimeout)
	}
	if cmd.Success != nil && !*cmd.Success {
		return cmd, &CommandError{Command: cmd}
	}
	return cmd, nil
}

// Command reads a command (GET /api/vN/commands/{id}).
func (c *Client) Command(ctx context.Context, id int64) (Command, error) {
	v, err := c.APIVersion(ctx)
	if err != nil {
		return Command{}, err
	}
	b, err := c.do(ctx, http.MethodGet, "/api/"+v+"/commands/"+strconv.FormatInt(id, 10), nil)
	if err != nil {
		return Command{}, err
	}
	return ParseCommand(b)
}

// WaitCommand polls command id until it is no longer active, for at most
// timeout (and ctx): the finished command, a *CommandError with CM's
// resultMessage when it failed, a *CommandTimeoutError when it is still
// active. Polls start at 100 ms and back off to the poll interval.
func (c *Client) WaitCommand(ctx context.Context, id int64, timeout time.Duration) (Command, error) {
	if timeout <= 0 {
		timeout = c.commandTimeout
	}
	start := time.Now()
	deadline := start.Add(timeout)
	pause := 100 * time.Millisecond
	for {
		cmd, err := c.Command(ctx, id)
		if err != nil {
			return cmd, err
		}
		if !cmd.Active {
			if cmd.Success != nil && !*cmd.Success {
				return cmd, &CommandError{Command: cmd}
			}
			return cmd, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return cmd, &CommandTimeoutError{Command: cmd, Waited: time.Since(start)}
		}
		t := time.NewTimer(min(pause, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return cmd, ctx.Err()
		case <-t.C:
		}
		pause = min(pause*2, c.pollInterval)
	}
}

// IsNotFound reports whether err is the API answering 404 (an endpoint or
// object this CM does not have, e.g. no Management Service).
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}
