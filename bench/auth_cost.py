"""In-process cost of authenticating one request: ``python -m bench.auth_cost``.

One app on a fresh PostgreSQL database and the bench Redis (``bench.harness.Stack``, no server started), one
signed-in consumer, ``authenticate()`` called 3,000 times after 200 warm-up calls in one request context.
Prints wall and this process's CPU per call and the SQL statements each one ran (the pool's pre-ping is not
a statement). Used for #17 item 1 (docs/BENCHMARKS.md, "Authentication without a database round trip").
"""
import time

import sqlalchemy as sa

from bench.harness import Stack


def main(n=3000):
    from backend.auth.service import authenticate, create_user, issue_token
    from backend.extensions import db

    with Stack() as stack:
        app = stack.app()
        with app.app_context():
            user = create_user("13912345678", "Passw0rd1", "consumer")
            token = issue_token(user)
            db.session.commit()
            db.session.remove()
            count = []
            sa.event.listen(db.engine, "before_cursor_execute", lambda *a: count.append(1))
            with app.test_request_context(headers={"Authorization": f"Bearer {token}"}):
                for _ in range(200):
                    authenticate()
                    db.session.rollback()
                count.clear()
                w0, c0 = time.perf_counter(), time.process_time()
                for _ in range(n):
                    authenticate()
                    db.session.rollback()
                w1, c1 = time.perf_counter(), time.process_time()
            print(f"{n} authentications: wall {1000 * (w1 - w0) / n:.3f} ms each, this process's CPU "
                  f"{1000 * (c1 - c0) / n:.3f} ms each, SQL statements {len(count) / n:.2f} each")


if __name__ == "__main__":
    main()
