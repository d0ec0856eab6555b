{% include "drf_spectacular/swagger_ui.js" %}

// Log in from this page: "Try it out" on the token endpoint (or its refresh), and the access
// token it answers authorizes the calls that follow (the Authorize button shows it; Logout
// there forgets it).
const tokenPaths = ["{% url 'auth-token' %}", "{% url 'auth-token-refresh' %}"];
const fetchBeforeLogin = window.fetch.bind(window);
window.fetch = async (input, init) => {
  const response = await fetchBeforeLogin(input, init);
  const url = new URL(typeof input === "string" ? input : input.url, document.baseURI);
  if (response.ok && tokenPaths.includes(url.pathname)) {
    response.clone().json().then((body) => {
      if (body && body.access) {
        ui.preauthorizeApiKey("jwtAuth", body.access);
      }
    }).catch(() => {});
  }
  return response;
};
