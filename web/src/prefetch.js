// prefetch.js is inlined into index.html's head by build.mjs: on a page
// load of the VM list with a session, it asks the API for the first rows
// at once, while the browser still fetches and parses the CSS and the app.
// The app takes the answer over (api.js takePrefetched) when the path is
// the one it would request itself.
(function prefetch() {
  try {
    var s = JSON.parse(localStorage.getItem('govirt.session') || 'null');
    var p = location.pathname;
    if (!s || !s.token || (p !== '/' && p !== '/vms')) return;
    var path = '/vms?max=25&follow=disk_attachments';
    window.gvPrefetch = {
      path: path,
      response: fetch('/ovirt-engine/api' + path, { headers: { Accept: 'application/json', Authorization: 'Bearer ' + s.token } }),
    };
  } catch (e) { /* no prefetch: the app asks itself */ }
}());
