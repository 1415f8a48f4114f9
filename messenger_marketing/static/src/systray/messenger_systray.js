import { Component, onWillStart, useState } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { user } from "@web/core/user";
import { useService } from "@web/core/utils/hooks";

/**
 * The Messenger counter in the top bar: conversations with unread customer messages
 * that are the user's or nobody's. It refreshes when the server says a message came in.
 */
export class MessengerSystray extends Component {
    static template = "messenger_marketing.MessengerSystray";
    static props = {};

    setup() {
        this.orm = useService("orm");
        this.action = useService("action");
        this.state = useState({ count: 0, allowed: false });
        const bus = useService("bus_service");
        onWillStart(async () => {
            this.state.allowed = await user.hasGroup("messenger_marketing.group_messenger_user");
            if (this.state.allowed) {
                await this.refresh();
                bus.subscribe("messenger_marketing.unread", () => this.refresh());
            }
        });
    }

    async refresh() {
        const summary = await this.orm.call("messenger.contact", "messenger_unread_summary", []);
        this.state.count = summary.count;
    }

    onClick() {
        this.action.doAction("messenger_marketing.action_messenger_inbox", { clearBreadcrumbs: true });
    }
}

registry.category("systray").add("messenger_marketing.systray", { Component: MessengerSystray }, { sequence: 25 });
