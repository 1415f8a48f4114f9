/** @odoo-module **/

import { registry } from "@web/core/registry";

/**
 * A salesperson sees the unread counter, opens the conversation from the inbox and
 * answers from the chatter. Data comes from tests/test_inbox.py.
 */
registry.category("web_tour.tours").add("messenger_inbox_tour", {
    url: "/odoo",
    steps: () => [
        {
            content: "The top bar counts one conversation to read",
            trigger: ".o_messenger_systray .o_messenger_systray_counter:contains(1)",
            run: "click",
        },
        {
            content: "The inbox shows the unread conversation",
            trigger: ".o_messenger_inbox .o_kanban_record:has(.o_messenger_unread_badge):contains(Irina Tour)",
            run: "click",
        },
        {
            content: "The conversation shows the customer's question",
            trigger: ".o_messenger_conversation .o_messenger_sim_in:contains(Do you have it in blue?)",
        },
        {
            content: "Answer from the chatter",
            trigger: "button:contains(Send message)",
            run: "click",
        },
        {
            content: "Write the answer",
            trigger: ".o-mail-Composer-input",
            run: "edit Yes, blue is in stock.",
        },
        {
            content: "Send it",
            trigger: ".o-mail-Composer-send:enabled",
            run: "click",
        },
        {
            content: "The answer is in the chatter",
            trigger: ".o-mail-Message-body:contains(Yes, blue is in stock.)",
        },
    ],
});
