"""Records the /v1/chat/completions bodies the `openai` Python package sends, into this folder.

Run once (python3 record.py) and check the files in; chat_api_test parses every *.json here.
A tiny http.server plays the API: it saves each request body as <case>.json (the case name travels
in the X-Case header) and answers a minimal completion (or SSE stream) so the client is satisfied.
"""
import http.server
import json
import os
import threading

import openai

HERE = os.path.dirname(os.path.abspath(__file__))
ANSWER = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                 "finish_reason": "stop", "logprobs": None}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}
CHUNK = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "m",
         "choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "logprobs": None}]}


class Recorder(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        name = self.headers["X-Case"]
        with open(os.path.join(HERE, name + ".json"), "wb") as f:
            f.write(body)
        if json.loads(body).get("stream"):
            out = ("data: " + json.dumps(CHUNK) + "\n\ndata: [DONE]\n\n").encode()
            ctype = "text/event-stream"
        else:
            out = json.dumps(ANSWER).encode()
            ctype = "application/json"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


def main():
    server = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = openai.OpenAI(base_url="http://127.0.0.1:%d/v1" % server.server_port, api_key="x",
                           max_retries=0)
    chat = client.chat.completions

    def case(name, **kw):
        r = chat.create(extra_headers={"X-Case": name}, **kw)
        if kw.get("stream"):
            for _ in r:
                pass

    user = [{"role": "user", "content": "What is Kubernetes?"}]
    case("minimal", model="phi-3-mini-128k-instruct", messages=user)
    case("kaito_docs_example", model="phi-3-mini-128k-instruct", messages=user, max_tokens=200,
         temperature=0.7)
    case("all_params", model="phi-3-mini-128k-instruct",
         messages=[{"role": "system", "content": "You are terse."},
                   {"role": "user", "content": "Hi"},
                   {"role": "assistant", "content": "Hello."},
                   {"role": "user", "content": "Name a planet."}],
         max_completion_tokens=64, temperature=0.0, top_p=0.9, seed=1234, stop=["\n\n", "END"],
         n=1, logprobs=False, presence_penalty=0.0, frequency_penalty=0.0, user="alice",
         extra_body={"top_k": 40, "repetition_penalty": 1.1})
    case("stop_string", model="m", messages=user, stop="###", max_tokens=16)
    case("stream", model="m", messages=user, stream=True, stream_options={"include_usage": True})
    case("content_parts", model="m",
         messages=[{"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
                   {"role": "user", "content": [{"type": "text", "text": "Part one."},
                                                {"type": "text", "text": "Part two."}]}])
    case("unicode", model="m", messages=[{"role": "user", "content": "Grüße, 世界 🌍 \"q\" \\ \t"}])
    case("tool_choice_none", model="m", messages=user, tool_choice="none",
         tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])
    case("response_format_text", model="m", messages=user, response_format={"type": "text"},
         metadata={"k": "v"}, store=False)
    print("recorded with openai", openai.__version__)


if __name__ == "__main__":
    main()
