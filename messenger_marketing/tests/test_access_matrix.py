"""Who may read, write, create and delete what, for every model of our addons.

The intended rights are written out below, not read from the security files: the test
compares them with Odoo's access rules, then does each operation for real over XML-RPC
as a user of each group, with a password. A model that our addons add and that is
missing from the table fails the test, so a new model gets its line.
"""

import json
import uuid
import xmlrpc.client

from odoo.exceptions import AccessError
from odoo.tests import HttpCase, new_test_user, tagged

OUR_ADDONS = ("messenger_marketing", "messenger_marketing_support", "messenger_marketing_sale_stock")
GROUPS = ("public", "portal", "employee", "salesman", "user", "manager", "manager_b")

# r: read, w: write, c: create, u: unlink (delete); -: nothing. "abstract": no records.
# employee: an internal user with no Messenger group; salesman: sales staff who see every
# lead, with no Messenger group; user and manager: the Messenger Marketing groups (a
# manager is also a user); manager_b: a Manager of company B only, on the records below,
# which are company A's (records of no company are shared: templates and knowledge-base
# tags made for every company). A wizard is its creator's only: the superuser's below is
# nobody else's, so the groups that may open one have "c" (they do everything on their own).
MATRIX = """
model                             public  portal  employee  salesman  user  manager  manager_b
messenger.channel                 -       -       -         -         r     rwcu     c
messenger.contact                 -       -       -         -         rw    rwcu     -
messenger.consent.log             -       -       -         -         r     r        -
messenger.message                 -       -       -         -         r     r        -
messenger.webhook.event           -       -       -         -         -     r        -
messenger.template                -       -       -         -         r     rwcu     rwcu
messenger.sale.rule               -       -       -         -         r     rwcu     c
messenger.sale.rule.step          -       -       -         -         r     rwcu     -
messenger.sale.notification       -       -       -         -         -     r        -
messenger.simulator               -       -       -         -         -     c        c
messenger.invite                  -       -       -         -         c     c        c
messenger.binding.link            -       -       -         -         rc    rcu      -
mailing.messenger.button          -       -       -         -         -     rwcu     -
mailing.messenger.test            -       -       -         -         -     c        c
messenger.composer                -       -       -         -         c     c        c
messenger.channel.setup           -       -       -         -         -     c        c
messenger.whatsapp.template       -       -       -         -         r     rwcu     -
messenger.whatsapp.template.param -       -       -         -         r     rwcu     -
messenger.whatsapp.price          -       -       -         -         r     rwcu     rwcu
messenger.flow                    -       -       -         -         r     rwcu     c
messenger.flow.step               -       -       -         -         r     rwcu     -
messenger.flow.button             -       -       -         -         r     rwcu     -
messenger.flow.link               -       -       -         -         rwc   rwcu     -
messenger.flow.session            -       -       -         -         r     ru       -
messenger.content.block           -       -       -         -         r     rwcu     c
messenger.warming                 -       -       -         -         r     rwcu     c
messenger.warming.step            -       -       -         -         r     rwcu     -
messenger.warming.enrolment       -       -       -         -         r     ru       -
messenger.sequence.step           abstract
messenger.price.alert             -       -       -         -         r     rwu      -
messenger.price.change            -       -       -         -         -     -        -
messenger.route                   -       -       -         -         r     rwcu     -
messenger.media                   -       -       -         -         r     ru       -
messenger.support.article         -       -       -         -         r     rwcu     c
messenger.support.tag             -       -       -         -         r     rwcu     rwcu
messenger.support.question        -       -       -         -         r     rwu      -
messenger.dispatcher              abstract
messenger.inbound                 abstract
messenger.image                   abstract
messenger.segment.mixin           abstract
"""
OPERATIONS = {"r": "read", "w": "write", "c": "create", "u": "unlink"}
CREDENTIALS = ("token", "webhook_key", "webhook_secret")


def parse_matrix():
    rows = [line.split() for line in MATRIX.strip().splitlines()[1:]]
    return {row[0]: None if row[1:] == ["abstract"] else dict(zip(GROUPS, row[1:], strict=True)) for row in rows}


@tagged("post_install", "-at_install")
class TestAccessMatrix(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env
        cls.matrix = parse_matrix()
        cls.passwords = {}
        cls.users = {"public": env.ref("base.public_user")}
        company_b = env["res.company"].create({"name": "Matrix company B"})
        for group, xmlid in (
            ("portal", "base.group_portal"),
            ("employee", "base.group_user"),
            ("salesman", "sales_team.group_sale_salesman_all_leads"),
            ("user", "messenger_marketing.group_messenger_user"),
            ("manager", "messenger_marketing.group_messenger_manager"),
            ("manager_b", "messenger_marketing.group_messenger_manager"),
        ):
            password = f"{group}-pw-{uuid.uuid4().hex[:8]}"
            extra = {"company_id": company_b.id, "company_ids": [(6, 0, company_b.ids)]} if group == "manager_b" else {}
            cls.users[group] = new_test_user(env, f"matrix_{group}", groups=xmlid, password=password, **extra)
            cls.passwords[group] = password
        # one record of each model, made by the superuser
        cls.partner = env["res.partner"].create({"name": "Matrix customer"})
        cls.channel = env["messenger.channel"].create(
            {"name": "Matrix bot", "provider": "telegram", "token": "777:MATRIX-TOKEN"}
        )
        cls.contact = env["messenger.contact"].create({"name": "Matrix", "channel_id": cls.channel.id, "chat_id": "m1"})
        cls.order_model = env["ir.model"]._get("sale.order")
        cls.template = env["messenger.template"].create(
            {"name": "Matrix", "model_id": cls.order_model.id, "body": "Hello"}
        )
        cls.rule = env["messenger.sale.rule"].create(
            {"name": "Matrix", "event": "confirmed", "template_id": cls.template.id}
        )
        cls.order = env["sale.order"].create({"partner_id": cls.partner.id})
        cls.mailing = env["mailing.mailing"].create(
            {
                "name": "Matrix campaign",
                "subject": "Matrix",
                "mailing_type": "messenger",
                "mailing_model_id": env.ref("messenger_marketing.model_messenger_contact").id,
                "messenger_channel_ids": [(6, 0, cls.channel.ids)],
                "messenger_body": "Sale",
            }
        )
        cls.product = env["product.template"].create({"name": "Matrix product", "list_price": 10})
        cls.flow = env["messenger.flow"].create({"name": "Matrix flow"})
        cls.step = env["messenger.flow.step"].create({"flow_id": cls.flow.id, "text": "Hi"})
        cls.warming = env["messenger.warming"].create({"name": "Matrix warming"})
        cls.wa_template = env["messenger.whatsapp.template"].create(
            {"name": "matrix", "language": "en", "account_id": "1", "channel_id": cls.channel.id}
        )
        cls.article = env["messenger.support.article"].create({"name": "Matrix article", "short_answer": "Yes"})

    def new_contact(self):
        return (
            self.env["messenger.contact"]
            .create({"name": "Matrix", "channel_id": self.channel.id, "chat_id": uuid.uuid4().hex[:10]})
            .id
        )

    def unpriced_country(self):
        """A country without a WhatsApp price yet: one price per country and category."""
        priced = self.env["messenger.whatsapp.price"].sudo().search([]).country_id
        return self.env["res.country"].search([("id", "not in", priced.ids)], limit=1).id

    # What an operation needs, per model: the values to create one, a harmless change.
    def create_vals(self, model):
        unique = uuid.uuid4().hex[:10]
        return {
            "messenger.channel": {"name": f"RPC {unique}", "provider": "sandbox"},
            "messenger.contact": {"name": "RPC", "channel_id": self.channel.id, "chat_id": unique},
            "messenger.consent.log": {"contact_id": self.contact.id, "state": "subscribed", "method": "manual"},
            "messenger.message": {"channel_id": self.channel.id, "contact_id": self.contact.id, "body": "RPC"},
            "messenger.webhook.event": {"channel_id": self.channel.id, "event_id": unique},
            "messenger.template": {"name": "RPC", "model_id": self.order_model.id, "body": "Hi"},
            "messenger.sale.rule": {"name": "RPC", "event": "cancelled", "template_id": self.template.id},
            "messenger.sale.rule.step": {"rule_id": self.rule.id, "template_id": self.template.id},
            "messenger.sale.notification": {"order_id": self.order.id, "event": unique},
            "messenger.simulator": {"channel_id": self.channel.id},
            "messenger.invite": {"partner_id": self.partner.id, "channel_id": self.channel.id},
            "messenger.binding.link": {"partner_id": self.partner.id, "channel_id": self.channel.id},
            "mailing.messenger.button": {"mailing_id": self.mailing.id, "label": "RPC", "url": "https://example.com"},
            "mailing.messenger.test": {"mailing_id": self.mailing.id, "contact_ids": [(6, 0, self.contact.ids)]},
            "messenger.composer": {"res_model": "res.partner", "res_ids": self.partner.ids, "body": "RPC"},
            "messenger.channel.setup": {"provider": "sandbox"},
            "messenger.whatsapp.template": {
                "name": unique,
                "language": "en",
                "account_id": "1",
                "channel_id": self.channel.id,
            },
            "messenger.whatsapp.template.param": {"template_id": self.wa_template.id, "name": "1"},
            "messenger.whatsapp.price": {"country_id": self.unpriced_country(), "category": "utility", "price": 0.01},
            "messenger.flow": {"name": "RPC"},
            "messenger.flow.step": {"flow_id": self.flow.id, "text": "RPC"},
            "messenger.flow.button": {"step_id": self.step.id, "label": "RPC"},
            "messenger.flow.link": {"name": "RPC", "channel_id": self.channel.id, "flow_id": self.flow.id},
            "messenger.flow.session": {"contact_id": self.new_contact(), "flow_id": self.flow.id},
            "messenger.content.block": {"name": "RPC", "kind": "review", "text": "Great"},
            "messenger.warming": {"name": "RPC"},
            "messenger.warming.step": {"warming_id": self.warming.id, "text": "RPC"},
            "messenger.warming.enrolment": {"contact_id": self.new_contact(), "warming_id": self.warming.id},
            "messenger.price.alert": {"contact_id": self.new_contact(), "product_tmpl_id": self.product.id},
            "messenger.price.change": {"product_tmpl_id": self.product.id},
            "messenger.route": {
                "channel_id": self.channel.id,
                "kind": "transactional",
                "company_id": self.channel.company_id.id,
                # a step comes once in an order: each one in a customer's own order
                "partner_id": self.env["res.partner"].create({"name": f"Matrix {unique}"}).id,
            },
            "messenger.media": {
                "message_id": self.env["messenger.message"]
                .create({"channel_id": self.channel.id, "contact_id": self.contact.id, "direction": "in"})
                .id,
                "channel_id": self.channel.id,
                "kind": "photo",
                "ref": unique,
            },
            "messenger.support.article": {"name": "RPC", "short_answer": "Yes"},
            "messenger.support.tag": {"name": f"rpc {unique}"},
            "messenger.support.question": {
                "contact_id": self.contact.id,
                "channel_id": self.channel.id,
                "text": "RPC",
            },
        }[model]

    WRITE_VALS = {
        "messenger.channel": {"sequence": 11},
        "messenger.contact": {"name": "Renamed"},
        "messenger.consent.log": {"source": "changed"},
        "messenger.message": {"body": "changed"},
        "messenger.webhook.event": {"kind": "changed"},
        "messenger.template": {"body": "changed"},
        "messenger.sale.rule": {"sequence": 11},
        "messenger.sale.rule.step": {"delay_days": 2},
        "messenger.sale.notification": {"event": "changed"},
        "messenger.simulator": {"text": "changed"},
        "messenger.invite": {"partner_id": None},  # set to the fixture partner below
        "messenger.binding.link": {"partner_id": None},
        "mailing.messenger.button": {"label": "changed"},
        "mailing.messenger.test": {"contact_ids": [(5,)]},
        "messenger.composer": {"body": "changed"},
        "messenger.channel.setup": {"name": "changed"},
        "messenger.whatsapp.template": {"body": "changed"},
        "messenger.whatsapp.template.param": {"default_value": "changed"},
        "messenger.whatsapp.price": {"price": 0.02},
        "messenger.flow": {"name": "changed"},
        "messenger.flow.step": {"text": "changed"},
        "messenger.flow.button": {"label": "changed"},
        "messenger.flow.link": {"name": "changed"},
        "messenger.flow.session": {"phone": "+10000000000"},
        "messenger.content.block": {"text": "changed"},
        "messenger.warming": {"name": "changed"},
        "messenger.warming.step": {"text": "changed"},
        "messenger.warming.enrolment": {"stop_reason": "changed"},
        "messenger.price.alert": {"alert_count": 2},
        "messenger.price.change": {"product_tmpl_id": None},
        "messenger.route": {"sequence": 11},
        "messenger.media": {"error": "changed"},
        "messenger.support.article": {"short_answer": "changed"},
        "messenger.support.tag": {"color": 2},
        "messenger.support.question": {"confidence": 0.5},
    }

    def write_vals(self, model):
        vals = dict(self.WRITE_VALS[model])
        if "partner_id" in vals:
            vals["partner_id"] = self.partner.id
        return vals

    def make(self, model):
        return self.env[model].create(self.create_vals(model))

    def our_models(self):
        return {name for name, model in self.env.registry.items() if model._original_module in OUR_ADDONS}

    def test_every_model_is_in_the_matrix(self):
        models = self.our_models()
        self.assertEqual(sorted(models - set(self.matrix)), [], "add these models of our addons to MATRIX")
        self.assertEqual(sorted(set(self.matrix) - models), [], "MATRIX names models our addons do not have")
        for name, rights in self.matrix.items():
            self.assertEqual(rights is None, self.env[name]._abstract, name)

    def test_access_rules_match_the_matrix(self):
        Access = self.env["ir.model.access"]
        for model, rights in self.matrix.items():
            if rights is None:
                continue
            for group, allowed in rights.items():
                if group == "manager_b":
                    continue  # a manager's access rules; record rules make the difference
                if self.env[model]._transient and "c" in allowed:
                    allowed = "rwcu"  # noqa: PLW2901 - on one's own wizard; the superuser's is not one's own
                for letter, operation in OPERATIONS.items():
                    granted = Access.with_user(self.users[group]).check(model, operation, raise_exception=False)
                    self.assertEqual(granted, letter in allowed, f"{group} {operation} {model}")

    def test_public_user_reaches_nothing(self):
        public = self.users["public"]
        for model, rights in self.matrix.items():
            if rights is None:
                continue
            record = self.make(model).with_user(public)
            for call in (
                lambda r, _m: r.read(["display_name"]),
                lambda r, m: r.write(self.write_vals(m)),
                lambda r, m: r.env[m].create(self.create_vals(m)),
                lambda r, _m: r.unlink(),
            ):
                with self.assertRaises(AccessError, msg=model):
                    call(record, model)
        # and a visitor without a session cannot call the ORM over JSON-RPC
        response = self.url_open(
            "/web/dataset/call_kw",
            data=json.dumps(
                {
                    "jsonrpc": "2.0",
                    "method": "call",
                    "params": {
                        "model": "messenger.channel",
                        "method": "search_read",
                        "args": [[]],
                        "kwargs": {"fields": ["name"]},
                    },
                }
            ),
            headers={"Content-Type": "application/json"},
        )
        self.assertIn("error", response.json())
        self.assertNotIn("Matrix bot", response.text)

    def rpc(self, group, model, method, *args, **kwargs):
        """Call the ORM as the group's user over XML-RPC; True when allowed, False when
        refused for access rights (any other error fails the test)."""
        proxy = xmlrpc.client.ServerProxy(f"{self.base_url()}/xmlrpc/2/object", allow_none=True)
        self.env.flush_all()  # the server reads the database, not this test's pending writes
        user = self.users[group]
        try:
            proxy.execute_kw(self.env.cr.dbname, user.id, self.passwords[group], model, method, list(args), kwargs)
        except xmlrpc.client.Fault as fault:
            self.assertEqual(fault.faultCode, 4, f"{group} {method} {model}: not an access error: {fault.faultString}")
            return False
        return True

    def test_operations_over_rpc_match_the_matrix(self):
        for model, rights in self.matrix.items():
            if rights is None:
                continue
            for group in GROUPS[1:]:
                allowed = rights[group]
                record = self.make(model)
                done = {
                    "r": self.rpc(group, model, "read", record.ids, ["display_name"]),
                    "w": self.rpc(group, model, "write", record.ids, self.write_vals(model)),
                    "c": self.rpc(group, model, "create", [self.create_vals(model)]),
                    "u": self.rpc(group, model, "unlink", self.make(model).ids),
                }
                self.assertEqual(
                    "".join(letter for letter, ok in done.items() if ok),
                    "".join(letter for letter in "rwcu" if letter in allowed),
                    f"{group} on {model}",
                )

    def test_credentials_unreadable_for_non_managers_over_rpc(self):
        proxy = xmlrpc.client.ServerProxy(f"{self.base_url()}/xmlrpc/2/object", allow_none=True)
        db = self.env.cr.dbname
        secrets = [self.channel.token, self.channel.webhook_key, self.channel.webhook_secret]
        for group in ("portal", "employee", "user"):
            uid, password = self.users[group].id, self.passwords[group]

            def call(method, *args, _uid=uid, _password=password, **kwargs):
                return proxy.execute_kw(db, _uid, _password, "messenger.channel", method, list(args), kwargs)

            for field in CREDENTIALS:
                for attempt in (
                    lambda f=field: call("read", self.channel.ids, [f]),
                    lambda f=field: call("search_count", [(f, "!=", False)]),
                    lambda f=field: call("search_read", [(f, "like", self.channel.token[:3])], fields=["name"]),
                    lambda f=field: call("web_read", self.channel.ids, specification={f: {}}),
                ):
                    with self.assertRaises(xmlrpc.client.Fault, msg=f"{group} {field}") as caught:
                        attempt()
                    self.assertEqual(caught.exception.faultCode, 4)
                    self.assertFalse([s for s in secrets if s in caught.exception.faultString])
            if group == "user":
                rows = call("search_read", [("id", "=", self.channel.id)])
                self.assertEqual(rows[0]["name"], "Matrix bot")
                self.assertFalse(set(CREDENTIALS) & set(rows[0]))
                self.assertFalse(set(CREDENTIALS) & set(call("fields_get")))
                self.assertFalse([s for s in secrets if s in str(rows)])
        manager = self.users["manager"]
        rows = proxy.execute_kw(
            db,
            manager.id,
            self.passwords["manager"],
            "messenger.channel",
            "read",
            [self.channel.ids],
            {"fields": list(CREDENTIALS)},
        )
        self.assertEqual([rows[0][f] for f in CREDENTIALS], secrets)

    # -- every field ---------------------------------------------------------------------
    def sample(self, field):
        """A value of the field's type, or None to leave it out."""
        if field.type in ("char", "text"):
            return "x"
        if field.type == "html":
            return "<p>x</p>"
        if field.type in ("integer", "float", "monetary"):
            return 1
        if field.type == "boolean":
            return True
        if field.type == "date":
            return "2026-12-01"
        if field.type == "datetime":
            return "2026-12-01 10:00:00"
        if field.type == "selection":
            return field.get_values(self.env)[0]
        if field.type == "json":
            return []
        if field.type in ("many2one", "many2many"):
            other = self.env[field.comodel_name].search([], limit=1)
            if not other:
                return None
            return other.id if field.type == "many2one" else [(6, 0, other.ids)]
        return None  # one2many, binary, references: written through their own records

    def test_every_field_over_rpc(self):
        """Every field of every model, searched and written over RPC by the groups that may:
        allowed, or refused with an access error (a field of another group, or one that only
        the system sets) or a clear message (a value the field refuses), never a server error."""
        proxy = xmlrpc.client.ServerProxy(f"{self.base_url()}/xmlrpc/2/object", allow_none=True)
        db = self.env.cr.dbname
        magic = {"id", "create_uid", "create_date", "write_uid", "write_date", "display_name", "__last_update"}
        answers = {"done": 0, 2: 0, 4: 0}
        for model, rights in self.matrix.items():
            if rights is None or self.env[model]._transient:
                continue
            record = self.make(model)
            for name, field in self.env[model]._fields.items():
                if name in magic or field._module not in OUR_ADDONS:
                    continue
                for group in ("user", "manager"):
                    calls = []
                    if "r" in rights[group] and (field.store or field.search) and field.type not in ("binary", "json"):
                        calls.append(("search_count", [[(name, "!=", False)]]))
                    value = self.sample(field) if field.store and "w" in rights[group] else None
                    if value is not None:
                        calls.append(("write", [record.ids, {name: value}]))
                    for method, args in calls:
                        with self.subTest(model=model, field=name, group=group, method=method):
                            self.env.flush_all()
                            try:
                                proxy.execute_kw(db, self.users[group].id, self.passwords[group], model, method, args)
                                answers["done"] += 1
                            except xmlrpc.client.Fault as fault:
                                self.assertIn(fault.faultCode, (2, 4), fault.faultString[-800:])
                                answers[fault.faultCode] += 1
                            finally:
                                self.env.invalidate_all()
        # the calls did something: most went through, some were refused either way
        self.assertGreater(answers["done"], 500, answers)
        self.assertGreater(answers[4], 10, answers)
        self.assertGreater(answers[2], 0, answers)
