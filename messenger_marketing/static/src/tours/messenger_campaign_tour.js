/** @odoo-module **/

import { registry } from "@web/core/registry";

/**
 * A manager writes a messenger campaign and sends a test of it to one contact.
 * Data (a sandbox channel and the contact "Tour Tester") comes from tests/test_campaign.py.
 */
registry.category("web_tour.tours").add("messenger_campaign_test_tour", {
    url: "/odoo/action-messenger_marketing.mailing_mailing_action_messenger",
    steps: () => [
        {
            content: "New campaign",
            trigger: ".o_list_button_add",
            run: "click",
        },
        {
            content: "Name it",
            trigger: ".o_field_widget[name=subject] input",
            run: "edit Tour spring sale",
        },
        {
            content: "Pick the channel",
            trigger: ".o_field_widget[name=messenger_channel_ids] input",
            run: "edit Tour sandbox",
        },
        {
            content: "Choose it in the list",
            trigger: ".o-autocomplete--dropdown-item:contains(Tour sandbox)",
            run: "click",
        },
        {
            content: "Write the message",
            trigger: ".o_field_widget[name=messenger_body] textarea",
            run: "edit Chairs are 20 % off this week.",
        },
        {
            content: "Save",
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            content: "Test it",
            trigger: ".o_form_saved button[name=action_test]",
            run: "click",
        },
        {
            content: "Send the test to a contact",
            trigger: ".modal .o_field_widget[name=contact_ids] input",
            run: "edit Tour Tester",
        },
        {
            content: "Choose the contact",
            trigger: ".o-autocomplete--dropdown-item:contains(Tour Tester)",
            run: "click",
        },
        {
            content: "Send the test",
            trigger: ".modal button[name=action_send]",
            run: "click",
        },
        {
            content: "Odoo says the test is queued",
            trigger: ".o_notification:contains(Test message queued for 1 contact)",
        },
    ],
});
