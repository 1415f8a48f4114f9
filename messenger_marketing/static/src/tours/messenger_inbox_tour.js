/** @odoo-module **/

import { registry } from "@web/core/registry";
import { rpc } from "@web/core/network/rpc";
import { inputFiles } from "@web/../tests/utils";

/**
 * A salesperson sees the unread counter, opens the conversation from the inbox in Discuss,
 * sees the customer's next message arrive without a reload (a webhook posted while the
 * conversation is open), and answers with a text and a PDF; an earlier answer that went
 * out already can no longer be edited. Data comes from tests/test_inbox.py.
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
            content: "The conversation opens in Discuss, under Messenger in the sidebar",
            trigger: ".o-mail-DiscussSidebarCategory:contains(Messenger) ~ .o-mail-DiscussSidebarChannel:contains(Irina Tour), .o-mail-DiscussSidebar:contains(Messenger) .o-mail-DiscussSidebarChannel:contains(Irina Tour)",
        },
        {
            content: "The conversation shows the customer's question",
            trigger: ".o-mail-Thread .o-mail-Message-body:contains(Do you have it in blue?)",
        },
        {
            content: "The customer writes again: the provider posts to the webhook",
            trigger: ".o-mail-Composer-input",
            async run() {
                const [channel] = await rpc("/web/dataset/call_kw/messenger.channel/search_read", {
                    model: "messenger.channel",
                    method: "search_read",
                    args: [[["name", "=", "Tour bot"]], ["webhook_url", "webhook_secret"]],
                    kwargs: {},
                });
                // a Telegram update, as the Bot API posts it
                const person = { id: 4242, first_name: "Irina", is_bot: false };
                const answer = await fetch(new URL(channel.webhook_url).pathname, {
                    method: "POST",
                    headers: {
                        "Content-Type": "application/json",
                        "X-Telegram-Bot-Api-Secret-Token": channel.webhook_secret,
                    },
                    body: JSON.stringify({
                        update_id: 424201,
                        message: {
                            message_id: 77,
                            date: Math.floor(Date.now() / 1000),
                            chat: { ...person, type: "private" },
                            from: person,
                            text: "And in red?",
                        },
                    }),
                });
                if (answer.status !== 200) {
                    throw new Error(`the webhook answered ${answer.status}`);
                }
            },
        },
        {
            content: "It appears without a reload",
            trigger: ".o-mail-Thread .o-mail-Message-body:contains(And in red?)",
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
            content: "The answer is in the conversation, with its status",
            trigger: ".o-mail-Message:has(.o-mail-Message-body:contains(Yes, blue is in stock.)) .o_messenger_status",
        },
        {
            content: "What went to the customer can no longer be edited or deleted; what waits still can",
            trigger: ".o-mail-Thread .o-mail-Message-body:contains(Our shop opens at ten.)",
            run() {
                const store = odoo.__WOWL_DEBUG__.root.env.services["mail.store"];
                const messages = Object.values(store.Message.records);
                const sent = messages.find((m) => m.body?.includes("Our shop opens at ten."));
                const waiting = messages.find((m) => m.body?.includes("Yes, blue is in stock."));
                if (sent?.messenger_status !== "sent" || sent.editable) {
                    throw new Error(`the sent message: ${sent?.messenger_status}, editable ${sent?.editable}`);
                }
                if (waiting?.messenger_status !== "queued" || !waiting.editable) {
                    throw new Error(`the waiting one: ${waiting?.messenger_status}, editable ${waiting?.editable}`);
                }
            },
        },
        {
            content: "Attach the price list",
            trigger: ".o-mail-Composer button[aria-label='Attach files']",
            async run() {
                const pdf = new File(["%PDF-1.4 price list"], "pricelist.pdf", { type: "application/pdf" });
                await inputFiles(".o-mail-Composer-coreMain .o_input_file", [pdf]);
            },
        },
        {
            content: "Wait for the upload",
            trigger: ".o-mail-Composer .o-mail-AttachmentCard:not(.o-isUploading)",
        },
        {
            content: "Send the file",
            trigger: ".o-mail-Composer-send:enabled",
            run: "click",
        },
        {
            content: "The file is in the conversation",
            trigger: ".o-mail-Thread .o-mail-Message .o-mail-AttachmentCard[title='pricelist.pdf']",
        },
    ],
});
