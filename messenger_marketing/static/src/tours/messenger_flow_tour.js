/** @odoo-module **/

import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

registry.category("web_tour.tours").add("messenger_flow_tour", {
    url: "/odoo",
    steps: () => [
        stepUtils.showAppsMenuItem(),
        {
            content: "Open the Messenger app",
            trigger: '.o_app[data-menu-xmlid="messenger_marketing.menu_messenger_root"]',
            run: "click",
        },
        {
            content: "Open the chat landing menu",
            trigger: '[data-menu-xmlid="messenger_marketing.menu_messenger_landing"]',
            run: "click",
        },
        {
            content: "Open the flows",
            trigger: '[data-menu-xmlid="messenger_marketing.menu_messenger_flows"]',
            run: "click",
        },
        {
            content: "Create a flow",
            trigger: ".o_list_button_add",
            run: "click",
        },
        {
            content: "Name it",
            trigger: ".o_field_widget[name=name] input",
            run: "edit Tour flow",
        },
        {
            content: "Add the first step",
            trigger: ".o_field_widget[name=step_ids] .o_field_x2many_list_row_add a",
            run: "click",
        },
        {
            content: "The bot's first words",
            trigger: ".modal .o_field_widget[name=text] textarea",
            run: "edit Hello from the tour flow",
        },
        {
            content: "Add an answer button",
            trigger: ".modal .o_field_widget[name=button_ids] .o_field_x2many_list_row_add a",
            run: "click",
        },
        {
            content: "Label the button",
            trigger: ".modal .o_field_widget[name=button_ids] .o_data_row .o_field_widget[name=label] input",
            run: "edit Continue",
        },
        {
            content: "Save the step and start the next one",
            trigger: ".modal .o_form_button_save_new",
            run: "click",
        },
        {
            content: "The second step says goodbye",
            trigger: ".modal:not(:has(.o_data_row)) .o_field_widget[name=text] textarea",
            run: "edit Goodbye from the tour flow",
        },
        {
            content: "Save the second step",
            trigger: ".modal .o_form_button_save",
            run: "click",
        },
        {
            content: "Two steps in the list",
            trigger: ".o_field_widget[name=step_ids] .o_data_row:nth-child(2):contains('Goodbye from the tour flow')",
        },
        {
            content: "Save the flow",
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            content: "Try it in the simulator",
            trigger: "button.o_messenger_flow_try",
            run: "click",
        },
        {
            content: "The flow's first step speaks",
            trigger: ".o_messenger_sim_out:contains('Hello from the tour flow')",
        },
        {
            content: "Press the button by typing its label",
            trigger: ".o_messenger_simulator_input input",
            run: "edit Continue",
        },
        {
            content: "Send",
            trigger: "button.o_messenger_simulator_send",
            run: "click",
        },
        {
            content: "The second step answers",
            trigger: ".o_messenger_sim_out:contains('Goodbye from the tour flow')",
        },
    ],
});
