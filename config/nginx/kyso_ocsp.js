// POST /ocsp answered from the response files Kyso writes (ca_admin/ocsp_files.py): the
// request body, base64-encoded, names the file. No file (a nonce, an unknown serial, a
// form we do not pre-produce, anything malformed): the request goes to Kyso unchanged.
var fs = require('fs');

function post(r) {
    var body = r.requestBuffer;
    var type = (r.headersIn['Content-Type'] || '').toLowerCase();
    if (r.method === 'POST' && body && body.length > 0 && body.length <= 4096
            && type === 'application/ocsp-request') {
        try {
            var der = fs.readFileSync(r.variables.kyso_ocsp_static + '/ocsp/' + body.toString('base64'));
            r.headersOut['Content-Type'] = 'application/ocsp-response';
            r.return(200, der);
            return;
        } catch (e) {
            // not pre-produced: Kyso answers
        }
    }
    r.internalRedirect('@kyso');
}

export default {post};
