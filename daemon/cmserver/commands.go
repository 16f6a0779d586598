package cmserver

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// apiCommand is CM's ApiCommand. Commands are asynchronous: the POST that
// starts one answers with it still active, and GET /commands/{id} is polled
// until active is false; then success and resultMessage say how it ended.
type apiCommand struct {
	ID            int64  `json:"id"`
	Name          string `json:"name"`
	StartTime     string `json:"startTime,omitempty"`
	EndTime       string `json:"endTime,omitempty"`
	Active        bool   `json:"active"`
	Success       *bool  `json:"success,omitempty"`
	ResultMessage string `json:"resultMessage,omitempty"`
}

// command is what the server keeps of one command.
type command struct {
	id      int64
	name    string
	start   time.Time
	end     time.Time // when it ends (in the future while active)
	success bool
	result  string
}

// maxCommands bounds the commands kept (oldest dropped).
const maxCommands = 1000

// startCommand records a command that ends after the configured duration
// with the given outcome.
func (s *Server) startCommand(name string, success bool, result string) apiCommand {
	now := s.cfg.Now()
	s.mu.Lock()
	s.cmdID++
	c := &command{id: s.cmdID, name: name, start: now, end: now.Add(s.cfg.CommandDuration), success: success, result: result}
	if s.commands == nil {
		s.commands = map[int64]*command{}
	}
	s.commands[c.id] = c
	delete(s.commands, c.id-maxCommands)
	s.mu.Unlock()
	return c.view(now)
}

func (c *command) view(now time.Time) apiCommand {
	a := apiCommand{ID: c.id, Name: c.name, StartTime: fmtTime(c.start), Active: now.Before(c.end)}
	if !a.Active {
		ok := c.success
		a.Success, a.ResultMessage, a.EndTime = &ok, c.result, fmtTime(c.end)
	}
	return a
}

func (s *Server) handleCommand(w http.ResponseWriter, r *http.Request, id string) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid command id '%s'", sanitizeLog(id)))
		return
	}
	s.mu.Lock()
	c, ok := s.commands[n]
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Command %d not found.", n))
		return
	}
	writeJSON(w, http.StatusOK, c.view(s.cfg.Now()))
}

func (s *Server) handleRestartMgmt(w http.ResponseWriter, _ *http.Request) {
	if s.cfg.NoManagementService {
		writeError(w, http.StatusNotFound, "Cloudera Management Service does not exist.")
		return
	}
	s.mu.Lock()
	s.restarts++
	s.mu.Unlock()
	s.log.info("CommandPusher:com.cloudera.cmf.command.CmdExecutor", "Restart of Cloudera Management Service requested")
	writeJSON(w, s.profile.CommandStatus, s.startCommand("Restart", true, "Restarted Cloudera Management Service."))
}

// fmtTime is CM's ISO 8601 time with milliseconds.
func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
