package oktafake

// Demo names what SeedDemo created.
type Demo struct {
	Users  []string
	Apps   []DemoApp
	Tokens []DemoToken
}

// DemoApp is an app instance created by SeedDemo.
type DemoApp struct {
	AppID    string
	ClientID string // differs from AppID for one app, as custom client_ids do
	Name     string
}

// DemoToken is a refresh token created by SeedDemo.
type DemoToken struct {
	ID       string
	UserID   string
	ClientID string
}

// Fixed demo IDs, so the local runner's README can show ready-to-run
// commands.
const (
	DemoUserAlice = "00udemoalice00000001"
	DemoUserBob   = "00udemobob0000000002"
	DemoUserCarol = "00udemocarol00000003"

	DemoAppPortal  = "0oademoportal0000001"
	DemoAppMobile  = "0oademomobile0000002"
	DemoAppReports = "0oademoreports000003"
	// DemoClientReports is the reports app's custom client_id.
	DemoClientReports = "reports-dashboard-client"
)

// SeedDemo fills s with a small org: three users, three OIDC apps (the
// reports app's client_id differs from its app id) and several refresh
// tokens per user, and returns what it created.
func SeedDemo(s *Server) Demo {
	d := Demo{
		Users: []string{DemoUserAlice, DemoUserBob, DemoUserCarol},
		Apps: []DemoApp{
			{AppID: DemoAppPortal, ClientID: DemoAppPortal, Name: "Employee Portal"},
			{AppID: DemoAppMobile, ClientID: DemoAppMobile, Name: "Mobile App"},
			{AppID: DemoAppReports, ClientID: DemoClientReports, Name: "Reports Dashboard"},
		},
	}
	for _, u := range d.Users {
		s.AddUser(u)
	}
	for _, a := range d.Apps {
		s.AddApp(a.AppID, a.ClientID, a.Name)
	}
	grants := []struct {
		user   string
		client string
		count  int
		scopes []string
	}{
		{DemoUserAlice, DemoAppPortal, 2, []string{"openid", "profile", "offline_access"}},
		{DemoUserAlice, DemoAppMobile, 3, []string{"openid", "offline_access"}},
		{DemoUserAlice, DemoClientReports, 1, []string{"openid", "offline_access", "reports:read"}},
		{DemoUserBob, DemoAppPortal, 1, []string{"openid", "profile", "offline_access"}},
		{DemoUserBob, DemoClientReports, 2, []string{"openid", "offline_access", "reports:read"}},
		{DemoUserCarol, DemoAppMobile, 2, []string{"openid", "offline_access"}},
	}
	for _, g := range grants {
		for range g.count {
			id := s.AddToken(g.user, g.client, g.scopes...)
			d.Tokens = append(d.Tokens, DemoToken{ID: id, UserID: g.user, ClientID: g.client})
		}
	}
	return d
}
