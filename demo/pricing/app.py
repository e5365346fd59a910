"""The demo shop's pricing service: Python and Flask, instrumented with no tracing code at all.

Run under `opentelemetry-instrument` (OpenTelemetry's zero-code instrumentation), which creates a
server span per request from Flask, continues the caller's trace from `traceparent`, and a client
span per sqlite3 query; it exports OTLP/HTTP to wherever OTEL_EXPORTER_OTLP_ENDPOINT points.
"""

import os
import sqlite3

from flask import Flask, jsonify, request

app = Flask(__name__)
db = sqlite3.connect(":memory:", check_same_thread=False)
db.execute("CREATE TABLE zones (zone INTEGER PRIMARY KEY, base REAL, per_km REAL)")
db.executemany("INSERT INTO zones VALUES (?, ?, ?)", [(z, 2.5 + z % 4, 0.8 + (z % 3) / 10) for z in range(10)])


@app.get("/price")
def price():
    customer = request.args.get("customer", type=int)
    if customer is None:
        return jsonify(error="customer must be a number"), 400
    zone = customer % 10
    # Through a cursor: the instrumentation traces cursors' queries, not the connection's shortcut.
    cursor = db.cursor()
    cursor.execute("SELECT base, per_km FROM zones WHERE zone = ?", (zone,))
    base, per_km = cursor.fetchone()
    return jsonify(round(base + per_km * (customer % 17), 2))


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "8083")))
