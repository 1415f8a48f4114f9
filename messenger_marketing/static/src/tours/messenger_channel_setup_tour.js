/** @odoo-module **/

import { registry } from "@web/core/registry";

/**
 * An administrator connects a Telegram bot through the assistant: a wrong token is
 * refused with the reason, the right one works, the webhook is registered. The test
 * passes the fake Bot API's address in the start URL (?fake_api=...).
 */
registry.category("web_tour.tours").add("messenger_channel_setup_tour", {
    steps: () => {
        const fakeApi = new URLSearchParams(window.location.search).get("fake_api");
        return [
            {
                content: "Start the assistant from the channels",
                trigger: "button:contains(Connect a Messenger)",
                run: "click",
            },
            {
                content: "Choose Telegram",
                trigger: ".modal .o_field_widget[name=provider] .o_radio_input[data-value=telegram]",
                run: "click",
            },
            {
                content: "Name the channel",
                trigger: ".modal .o_field_widget[name=name] input",
                run: "edit Tour Shop Bot",
            },
            {
                content: "Next",
                trigger: ".modal button[name=action_next]",
                run: "click",
            },
            {
                content: "The assistant says where the token comes from",
                trigger: ".modal .alert-info:contains(BotFather)",
            },
            {
                content: "Open the advanced settings",
                trigger: ".modal details summary",
                run: "click",
            },
            {
                content: "Point at the test Bot API",
                trigger: ".modal .o_field_widget[name=api_base_url] input",
                run: `edit ${fakeApi}`,
            },
            {
                content: "Paste a wrong token",
                trigger: ".modal .o_field_widget[name=token] input",
                run: "edit 999:WRONG-TOKEN",
            },
            {
                content: "Test it",
                trigger: ".modal button[name=action_check]",
                run: "click",
            },
            {
                content: "The assistant says exactly what is wrong",
                trigger: ".modal .o_messenger_setup_error:contains(Telegram refused: Unauthorized)",
            },
            {
                content: "Paste the right token",
                trigger: ".modal .o_field_widget[name=token] input",
                run: "edit 123456:TEST-TOKEN",
            },
            {
                content: "Test again",
                trigger: ".modal button[name=action_check]",
                run: "click",
            },
            {
                content: "The keys work: the webhook address is shown",
                trigger: ".modal .o_field_widget[name=webhook_url]:contains(/messenger/webhook/)",
            },
            {
                content: "Register the webhook",
                trigger: ".modal button[name=action_register_webhook]",
                run: "click",
            },
            {
                content: "Done",
                trigger: ".modal .o_messenger_setup_done:contains(Tour Shop Bot)",
            },
            {
                content: "Open the channel",
                trigger: ".modal button[name=action_open_channel]",
                run: "click",
            },
            {
                content: "The channel's form opens",
                trigger: ".o_breadcrumb .active:contains(Tour Shop Bot)",
            },
        ];
    },
});
