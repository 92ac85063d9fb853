package oktafake_test

import (
	"fmt"
	"io"
	"net/http"

	"github.com/okta-token-revoker/okta-token-revoker/internal/oktafake"
)

func Example() {
	org := oktafake.New()
	defer org.Close()
	org.AddApp("0oaportal00000000001", "", "Portal")
	org.AddToken("00ualice000000000001", "0oaportal00000000001", "openid", "offline_access")

	req, _ := http.NewRequest(http.MethodDelete, org.URL+"/api/v1/users/00ualice000000000001/clients/0oaportal00000000001/tokens", nil)
	req.Header.Set("Authorization", "SSWS "+oktafake.DefaultAPIToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	fmt.Println(resp.StatusCode, len(org.ActiveTokens("00ualice000000000001", "")), len(org.MalformedRequests()))
	// Output: 204 0 0
}
