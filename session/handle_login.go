package session

import (
	"errors"
	"strings"
)

// Login and access control (RFC 959 §4.1.1, RFC 7151): USER, PASS, ACCT, SMNT,
// REIN, QUIT, HOST. The login guard is in loginguard.go, the TLS commands in
// handle_tls.go; the rows are in commands.go.

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
	info := LoginInfo{Addr: s.remoteAddr(), TLS: s.tls.active, Session: s.id}
	u, err := s.cfg.Auth.Authenticate(WithLoginInfo(s.ctx, info), name, arg)
	if err != nil {
		if errors.Is(err, ErrAuthUnavailable) {
			// Neither a login nor a failure: nobody could say. 421 closes the
			// connection, so a client retries later rather than at once.
			s.log.Error("login could not be checked", "user", logString(name), "err", err)
			s.quit = true
			return errReply(err, "Login")
		}
		if errors.Is(err, ErrAuthFailed) {
			// The reason (wrong password, outside the user's networks, the
			// identity service's 401) is for the operator, never the client.
			s.log.Warn("login failed", "user", logString(name), "reason", err.Error())
			s.emit(Event{Type: EventLoginFailed, User: name, Reason: "wrong user name or password"})
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

func (s *Session) handleACCT(string) Reply {
	return reply(codeNotImplementedOK, "ACCT not needed: no account is required on this server")
}

func (s *Session) handleSMNT(string) Reply {
	return reply(codeNotImplemented, "SMNT not implemented: there is one file system per user")
}

// handleREIN is RFC 959 REINITIALIZE: log out and reset every parameter, keeping
// the control connection open.
func (s *Session) handleREIN(string) Reply {
	s.data.close()
	if s.user != nil {
		s.log.Info("logout (REIN)")
		// The session is back to the state of a new connection, so the login
		// timeout runs again. Only after a login: REIN must not let a client
		// that never logged in stretch its time.
		if s.login != nil {
			s.login.Reset(s.cfg.LoginTimeout)
		}
	}
	s.user = nil
	s.pendingUser = ""
	s.fs = s.cfg.FS
	s.cwd = "/"
	s.binary = true
	s.epsvAll = false
	s.info = infoState{}
	s.log = s.cfg.Logger.With("session", s.id, "remote", s.conn.RemoteAddr().String())
	return reply(codeReady, "Session reinitialized; log in again with USER and PASS")
}

// maxHostLength is the longest name HOST accepts: a DNS name has at most 253
// characters, a bracketed IPv6 address with a zone fewer.
const maxHostLength = 255

// handleHOST is RFC 7151: the virtual host the client wants, before login. All
// hosts share one configuration here, so any name is accepted, once: the name
// becomes an attribute of every later log line of the session, so a client must
// not be able to stack them (RFC 7151 §3.2 allows refusing a repeated HOST).
func (s *Session) handleHOST(arg string) Reply {
	if s.user != nil || s.pendingUser != "" {
		return reply(codeBadSequence, "HOST must come before USER")
	}
	if s.info.host != "" {
		return reply(codeBadSequence, "HOST already accepted (%s); send REIN to change it", s.info.host)
	}
	host := strings.TrimSpace(arg)
	if len(host) > maxHostLength || strings.ContainsAny(host, " \t") || !strings.HasPrefix(host, "[") && strings.Contains(host, ":") {
		return reply(codeSyntaxErrorParams, "HOST takes a domain name or a bracketed IP address")
	}
	s.info.host = host
	s.log = s.log.With("host", logString(host))
	return reply(codeReady, "Host %s accepted", host)
}
