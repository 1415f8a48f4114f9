"""A file server for the sandbox's http references: serves the files it is given, and
answers a path's scripted statuses first (a 503 that mends, a 404 that will not). This
module imports nothing from Odoo."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FileServer:
    def __init__(self):
        self.files = {}  # path -> (bytes, content type)
        self.script = {}  # path -> [status, ...] answered before the file
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                statuses = server.script.get(self.path)
                if statuses:
                    status = statuses.pop(0)
                    self.send_response(status)
                    self.end_headers()
                    return
                if self.path not in server.files:
                    self.send_response(404)
                    self.end_headers()
                    return
                data, ctype = server.files[self.path]
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
