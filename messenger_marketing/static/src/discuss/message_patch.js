/** @odoo-module **/

import { Message } from "@mail/core/common/message";
import { patch } from "@web/core/utils/patch";
import { MESSENGER_STATUS } from "./messenger_discuss";

patch(Message.prototype, {
    get messengerStatus() {
        return MESSENGER_STATUS;
    },
});
