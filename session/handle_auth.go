package session

import "errors"

// Access control (RFC 959 §4.1.1).
var _ = commandSet(map[string]command{
	"USER": {handler: (*Session).handleUSER, needsArg: true, help: "USER <name>"},
	"PASS": {handler: (*Session).handlePASS, help: "PASS <password>"},
	"QUIT": {handler: (*Session).handleQUIT, help: "QUIT"},
})

func (s *Session) handleUSER(arg string) Reply {
	if r, refuse := s.loginNeedsTLS(); refuse {
		return r
	}
	if s.user != nil {
		// RFC 959 allows a new USER to change identity; we keep it simple and
		// safe: a logged-in session stays who it is.
		return reply(codeBadSequence, "Already logged in as %s", s.user.Name)
	}
	s.pendingUser = arg
	return reply(codeNeedPassword, "Password required for %s", arg)
}

func (s *Session) handlePASS(arg string) Reply {
	if r, refuse := s.loginNeedsTLS(); refuse {
		return r
	}
	if s.user != nil {
		return reply(codeBadSequence, "Already logged in")
	}
	if s.cfg.Guard != nil {
		done, err := s.cfg.Guard.BeginLogin(s.ctx, s.remoteAddr())
		if err != nil {
			s.quit = true
			if errors.Is(err, ErrBanned) {
				return reply(codeNotAvailable, "Too many failed logins from your address; try again later")
			}
			s.log.Warn("login refused", "err", err)
			return reply(codeNotAvailable, "Too many logins in progress from your address; try again later")
		}
		defer done()
	}
	if s.pendingUser == "" {
		return reply(codeBadSequence, "Send USER first")
	}
	name := s.pendingUser
	s.pendingUser = ""
	if s.cfg.Auth == nil {
		return reply(codeNotLoggedIn, "Login incorrect")
	}
	u, err := s.cfg.Auth.Authenticate(s.ctx, name, arg)
	if err != nil {
		if errors.Is(err, ErrAuthFailed) {
			s.log.Warn("login failed", "user", logString(name))
			if s.loginFailed() {
				s.quit = true
				return reply(codeNotAvailable, "Too many failed logins from your address; try again later")
			}
		} else {
			s.log.Error("login check failed", "user", logString(name), "err", err)
		}
		// Do not tell a wrong name from a wrong password.
		return reply(codeNotLoggedIn, "Login incorrect")
	}
	s.user = u
	if u.FS != nil {
		s.fs = u.FS
	}
	s.cwd = "/"
	s.log = s.log.With("user", logString(u.Name))
	s.log.Info("login", "home", u.Home.String(), "read_only", u.ReadOnly)
	return reply(codeLoggedIn, "User %s logged in", u.Name)
}

func (s *Session) handleQUIT(string) Reply {
	s.quit = true
	return reply(codeGoodbye, "Goodbye")
}
