/** @odoo-module **/

import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

registry.category("web_tour.tours").add("messenger_simulator_tour", {
    url: "/odoo",
    steps: () => [
        stepUtils.showAppsMenuItem(),
        {
            content: "Open the Messenger app",
            trigger: '.o_app[data-menu-xmlid="messenger_marketing.menu_messenger_root"]',
            run: "click",
        },
        {
            content: "Open the simulator",
            trigger: '[data-menu-xmlid="messenger_marketing.menu_messenger_simulator"]',
            run: "click",
        },
        {
            content: "Write as a customer",
            trigger: ".o_messenger_simulator_input input",
            run: "edit /start",
        },
        {
            content: "Send",
            trigger: "button.o_messenger_simulator_send",
            run: "click",
        },
        {
            content: "The bot greets and says how to unsubscribe",
            trigger: ".o_messenger_sim_out:contains('Send STOP at any time')",
        },
        {
            content: "Ask to unsubscribe",
            trigger: ".o_messenger_simulator_input input",
            run: "edit stop",
        },
        {
            content: "Send again",
            trigger: "button.o_messenger_simulator_send",
            run: "click",
        },
        {
            content: "The bot confirms the unsubscription",
            trigger: ".o_messenger_sim_out:contains('You are unsubscribed')",
        },
    ],
});
