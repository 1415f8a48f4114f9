/** @odoo-module **/

import { Record } from "@mail/core/common/record";
import { Store } from "@mail/core/common/store_service";
import { Thread } from "@mail/core/common/thread_model";
import { ThreadIcon } from "@mail/core/common/thread_icon";
import { DiscussApp } from "@mail/core/public_web/discuss_app_model";
import { DiscussAppCategory } from "@mail/core/public_web/discuss_app_category_model";
import { compareDatetime } from "@mail/utils/common/misc";
import { _t } from "@web/core/l10n/translation";
import { imageUrl } from "@web/core/utils/urls";
import { patch } from "@web/core/utils/patch";

/**
 * Conversations with messenger customers (channel type "messenger"): a sidebar
 * category of their own, counted as chats are, with the messenger's icon.
 */
patch(DiscussApp.prototype, {
    setup(env) {
        super.setup(env);
        this.messengerCategory = Record.one("DiscussAppCategory", {
            compute() {
                return {
                    extraClass: "o_messenger_discuss_category",
                    icon: "fa fa-paper-plane",
                    hideWhenEmpty: true,
                    id: "messenger_marketing.category",
                    name: _t("Messenger"),
                    sequence: 22,
                };
            },
        });
        this.messengerThreads = Record.many("Thread", { inverse: "appAsMessenger" });
    },
});

patch(DiscussAppCategory.prototype, {
    sortThreads(t1, t2) {
        if (this.eq(this.app?.messengerCategory)) {
            return compareDatetime(t2.lastInterestDt, t1.lastInterestDt) || t2.id - t1.id;
        }
        return super.sortThreads(t1, t2);
    },
});

patch(Thread.prototype, {
    setup() {
        super.setup(...arguments);
        this.appAsMessenger = Record.one("DiscussApp", {
            compute() {
                return this.channel_type === "messenger" ? this.store.discuss : null;
            },
        });
    },
    _computeDiscussAppCategory() {
        if (this.channel_type === "messenger") {
            return this.appAsMessenger?.messengerCategory;
        }
        return super._computeDiscussAppCategory();
    },
    get isChatChannel() {
        return this.channel_type === "messenger" || super.isChatChannel;
    },
    get canLeave() {
        return this.channel_type !== "messenger" && super.canLeave;
    },
    get avatarUrl() {
        if (this.channel_type === "messenger") {
            return imageUrl("discuss.channel", this.id, "avatar_128", { unique: this.avatarCacheKey });
        }
        return super.avatarUrl;
    },
    get hasMemberList() {
        return this.channel_type === "messenger" || super.hasMemberList;
    },
    get messengerIcon() {
        return this.messenger_icon || "fa-paper-plane";
    },
});

patch(ThreadIcon.prototype, {
    get defaultChatIcon() {
        if (this.props.thread.channel_type === "messenger") {
            return { class: `fa ${this.props.thread.messengerIcon}`, title: _t("Messenger") };
        }
        return super.defaultChatIcon;
    },
});

patch(Store.prototype, {
    tabToThreadType(tab) {
        const threadTypes = super.tabToThreadType(tab);
        if (tab === "chat") {
            threadTypes.push("messenger");
        }
        return threadTypes;
    },
});

/** What the delivery status of a message to the customer reads. */
export const MESSENGER_STATUS = {
    queued: { icon: "fa-clock-o", label: _t("Waiting to be sent") },
    held: { icon: "fa-pause", label: _t("On hold") },
    sending: { icon: "fa-clock-o", label: _t("Sending") },
    uncertain: { icon: "fa-question-circle text-warning", label: _t("Outcome unknown") },
    sent: { icon: "fa-check", label: _t("Sent") },
    delivered: { icon: "fa-check text-info", label: _t("Delivered") },
    read: { icon: "fa-check-circle text-success", label: _t("Read") },
    failed: { icon: "fa-exclamation-triangle text-danger", label: _t("Failed") },
    cancelled: { icon: "fa-ban text-muted", label: _t("Cancelled") },
};
