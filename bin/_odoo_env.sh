# Shared by bin/demo and bin/test: checks the host and writes an Odoo configuration.
# Sourced, not run. Sets ODOO_CONF.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-$(id -un)}
export PGHOST PGPORT PGUSER

ODOO_ADDONS=$("$PYTHON" -c 'import os, odoo; print(os.path.join(os.path.dirname(odoo.__file__), "addons"))' 2>/dev/null) || {
    echo "ERROR: Odoo 18 is not importable by '$PYTHON' (python3 -c 'import odoo' fails): install Odoo 18.0 first, see README." >&2
    exit 2
}
"$PYTHON" -c 'import odoo.release as r, sys; sys.exit(r.version_info[0] != 18)' || {
    echo "ERROR: the Odoo importable by '$PYTHON' is not Odoo 18." >&2
    exit 2
}
"$PYTHON" - 2>/dev/null <<'PY' || { echo "ERROR: PostgreSQL does not answer on $PGHOST:$PGPORT as role $PGUSER." >&2; exit 2; }
import os, psycopg2
psycopg2.connect(host=os.environ["PGHOST"], port=os.environ["PGPORT"], user=os.environ["PGUSER"],
                 dbname="postgres", connect_timeout=5).close()
PY

ODOO_CONF=$(mktemp -t messenger-odoo-XXXXXX.conf)
cat > "$ODOO_CONF" <<CONF
[options]
db_host = $PGHOST
db_port = $PGPORT
db_user = $PGUSER
addons_path = $REPO,$ODOO_ADDONS
data_dir = ${ODOO_DATA_DIR:-$REPO/.odoo-data}
http_port = ${HTTP_PORT:-8069}
CONF
ADDONS=messenger_marketing,messenger_marketing_support,messenger_marketing_sale_stock
