"""The message catalogue: one dict per language, Japanese first (the default)."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "MESSAGES", "pick_language", "translator"]

DEFAULT_LANGUAGE = "ja"
LANGUAGES: tuple[str, ...] = ("ja", "en")

MESSAGES: dict[str, dict[str, str]] = {
    "ja": {
        "site_name": "IoT機器感染通知 サポートセンター",
        "skip_link": "本文へ移動",
        "nav_home": "ホーム",
        "nav_verify": "通知IDの確認",
        "nav_selfcheck": "接続の確認",
        "nav_guidance": "機器別の対処方法",
        "nav_inquiry": "お問い合わせ",
        "nav_operator": "運用者ページ",
        "other_language": "English",
        "footer_phone": "サポートセンター電話番号",
        "footer_hours": "受付時間",
        "home_title": "IoT機器のマルウェア感染に関するお知らせ",
        "home_intro": (
            "このプログラムは、インターネット上の未使用アドレス(ダークネット)に届く通信を観測し、"
            "Miraiなどのマルウェアに感染したIoT機器を見つけ、ご契約のプロバイダ(ISP)を通じて"
            "利用者の方へお知らせするものです。"
        ),
        "home_alert_title": "本物の注意喚起とは",
        "home_alert_text": (
            "ご契約のプロバイダから、書面・メール等で「通知ID」(例: 7K3M-Q9ZD-A1TR-2)を記載した"
            "注意喚起が届きます。通知IDをこのサイトで入力すると、本物かどうかと観測内容を確認できます。"
        ),
        "home_scam_title": "詐欺にご注意ください",
        "home_scam_money": (
            "本物の通知が、金銭・パスワード・ソフトウェアのインストールを求めることはありません。"
        ),
        "home_scam_link": (
            "メッセージ内のリンクは開かないでください。このサイトのアドレスはご自身で入力するか、"
            "すでにご存じの電話番号にお電話ください。"
        ),
        "home_scam_phone": "不審な連絡を受けたときは、サポートセンターにご相談ください。",
        "home_next_title": "通知を受け取ったら",
        "home_next_verify": "通知IDを確認する",
        "home_next_guidance": "機器の対処方法を見る",
        "verify_title": "通知IDの確認",
        "verify_label": "通知ID",
        "verify_hint": "例: 7K3M-Q9ZD-A1TR-2(大文字・小文字、ハイフンの有無は問いません)",
        "verify_submit": "確認する",
        "verify_genuine": "この通知IDは本物です。",
        "verify_bad_check": (
            "通知IDの入力に誤りがあるようです。通知書の記載をもう一度ご確認ください。"
        ),
        "verify_not_found": "この通知IDは見つかりませんでした。詐欺の可能性があります。",
        "verify_rate_limited": "確認の回数が上限に達しました。しばらくしてから再度お試しください。",
        "verify_issued": "通知の発行日",
        "verify_family": "検知したマルウェア",
        "verify_ports": "通信先ポート",
        "verify_first_seen": "最初に観測した日",
        "verify_last_seen": "最後に観測した日",
        "verify_privacy": "このページには、IPアドレスなど利用者を特定できる情報は表示されません。",
        "what_to_do_title": "対処方法",
        "what_to_do_1": "機器の管理画面のパスワードを、推測されにくいものに変更してください。",
        "what_to_do_2": "ファームウェアを最新版に更新してください。",
        "what_to_do_3": "外部からのTelnet・管理画面へのアクセスを無効にしてください。",
        "what_to_do_4": "機器を再起動し、改善しない場合は初期化してください。",
        "selfcheck_title": "現在の接続の確認",
        "selfcheck_intro": (
            "いまお使いの接続(このページを見ている通信のアドレス)が、感染の疑いとして"
            "記録されているかを確認します。他のアドレスは確認できません。"
        ),
        "selfcheck_submit": "確認する",
        "selfcheck_flagged": "お使いの接続から、マルウェア感染の疑いがある通信が観測されています。",
        "selfcheck_clear": "お使いの接続について、現在記録されている感染の疑いはありません。",
        "guidance_title": "機器別の対処方法",
        "guidance_intro": "感染しやすい機器ごとに、安全に使うための対処をまとめました。",
        "guide_router": "ルーター",
        "guide_router_text": (
            "初期パスワードを変更し、ファームウェアを更新してください。外部からの管理画面・"
            "Telnetへのアクセスを無効にし、サポートが終了した機種は買い替えをご検討ください。"
        ),
        "guide_camera": "ネットワークカメラ",
        "guide_camera_text": (
            "初期パスワードを必ず変更し、ファームウェアを更新してください。インターネットから"
            "直接見られる設定は避け、不要ならリモート機能を無効にしてください。"
        ),
        "guide_dvr": "録画機(DVR/NVR)",
        "guide_dvr_text": (
            "管理者パスワードを変更し、最新ファームウェアに更新してください。Telnetを無効にし、"
            "再起動後も異常が続く場合は初期化してください。"
        ),
        "guide_nas": "ネットワークストレージ(NAS)",
        "guide_nas_text": (
            "管理者アカウントのパスワードを変更し、OSとアプリを更新してください。"
            "不要な外部公開を停止し、データのバックアップを取ってください。"
        ),
        "guide_hub": "スマートホーム機器・ハブ",
        "guide_hub_text": (
            "アプリとファームウェアを更新し、初期パスワードを変更してください。"
            "更新が提供されない古い機器は交換をご検討ください。"
        ),
        "guide_replace": "いつ買い替えるべきか",
        "guide_replace_text": (
            "メーカーのサポート(更新提供)が終了した機器、初期化しても再感染する機器は、"
            "買い替えをおすすめします。"
        ),
        "inquiry_title": "お問い合わせ",
        "inquiry_intro": "通知やサイトについてのご質問をお送りください。受付番号をお知らせします。",
        "inquiry_name": "お名前(任意)",
        "inquiry_email": "メールアドレス(任意・返信用)",
        "inquiry_notice": "通知ID(お持ちの場合)",
        "inquiry_message": "お問い合わせ内容",
        "inquiry_submit": "送信する",
        "inquiry_done": "お問い合わせを受け付けました。",
        "inquiry_reference": "受付番号",
        "inquiry_empty": "お問い合わせ内容を入力してください。",
        "login_title": "運用者ログイン",
        "login_username": "ユーザー名",
        "login_password": "パスワード",
        "login_submit": "ログイン",
        "login_failed": "ユーザー名またはパスワードが正しくありません。",
        "logout": "ログアウト",
        "csrf_failed": (
            "フォームの有効期限が切れました。ページを再読み込みして、もう一度お試しください。"
        ),
        "forbidden": "このページを表示する権限がありません。",
        "not_found_page": "ページが見つかりません。",
        "cases_title": "ケース一覧",
        "cases_filter": "絞り込み",
        "cases_status": "状態",
        "cases_isp": "ISP",
        "cases_any": "すべて",
        "cases_apply": "絞り込む",
        "cases_none": "該当するケースはありません。",
        "cases_count": "件数",
        "cases_showing": "表示",
        "cases_pages": "ページ",
        "cases_prev": "前のページ",
        "cases_next": "次のページ",
        "col_notice_id": "通知ID",
        "col_ip": "IPアドレス",
        "col_family": "マルウェア",
        "col_first_seen": "初観測",
        "col_last_seen": "最終観測",
        "col_packets": "パケット数",
        "col_status": "状態",
        "col_isp": "ISP",
        "dashboard_title": "ダッシュボード",
        "dashboard_cases_by_status": "状態別のケース数",
        "dashboard_cases_by_isp": "ISP別のケース数",
        "dashboard_top_ports": "通信先ポート上位",
        "dashboard_packets_per_day": "日別パケット数",
        "dashboard_no_data": "データがありません。",
        "dashboard_infected_per_day": "日別の感染ホスト数",
        "dashboard_remediation": "通知後14日以内に観測されなくなった割合(%)",
        "dashboard_inquiries": "未対応のお問い合わせ",
        "status_new": "新規",
        "status_notified": "通知済み",
        "status_acknowledged": "ISP確認済み",
        "status_resolved": "解決",
        "status_reinfected": "再感染",
        "status_expired": "観測終了",
        "unassigned": "未割当",
        "illegal_transition": "この状態には変更できません。",
        "case_detail_title": "ケースの詳細",
        "evidence": "証跡",
        "events": "履歴",
        "change_status": "状態の変更",
        "note": "メモ",
        "submit_status": "変更する",
        "col_asn": "AS番号",
        "col_country": "国",
        "col_confidence": "確信度",
        "col_ports": "ポート",
        "col_at": "日時",
        "col_actor": "実施者",
        "col_change": "変更",
        "col_note": "メモ",
        "inquiries_title": "お問い合わせ一覧",
        "inquiries_open": "未対応",
        "inquiries_answered": "回答済み",
        "col_reference": "受付番号",
        "col_created": "受付日時",
        "col_language": "言語",
        "col_preview": "内容",
        "inquiry_history": "やり取りの履歴",
        "direction_in": "利用者から",
        "direction_out": "回答",
        "emailed": "メール送信予定",
        "reply": "回答",
        "reply_submit": "回答を送る",
        "inquiries_none": "お問い合わせはありません。",
        "isp_login_title": "ISPポータル ログイン",
        "isp_token": "ISPアクセストークン",
        "isp_login_failed": "トークンが正しくないか、失効しています。",
        "isp_portal_title": "ISPポータル",
        "isp_reports": "レポートのダウンロード",
        "isp_figures": "対策状況",
        "fig_notified": "通知したケース",
        "fig_active": "対応中のケース",
        "fig_cleaned_7": "7日以内に観測されなくなった割合",
        "fig_cleaned_14": "14日以内に観測されなくなった割合",
        "fig_cleaned_30": "30日以内に観測されなくなった割合",
        "fig_median_days": "通知から最終観測までの日数(中央値)",
        "isps_title": "ISP登録簿",
        "col_display": "表示名",
        "col_contacts": "連絡先",
        "col_delivery": "送付方法",
        "deliveries_title": "通知の送信状況",
        "col_period": "対象期間",
        "col_recipients": "宛先",
        "col_attempts": "試行回数",
        "col_error": "エラー",
        "retry": "再送する",
        "accounts_title": "運用者アカウント",
        "account_add": "アカウントを追加",
        "account_invalid": "ユーザー名・パスワード(8文字以上)・権限を確認してください。",
        "col_role": "権限",
        "role_viewer": "閲覧者",
        "role_operator": "運用者",
        "role_admin": "管理者",
    },
    "en": {
        "site_name": "IoT Infection Notice Support Centre",
        "skip_link": "Skip to main content",
        "nav_home": "Home",
        "nav_verify": "Check a notice ID",
        "nav_selfcheck": "Check my connection",
        "nav_guidance": "Device guidance",
        "nav_inquiry": "Contact us",
        "nav_operator": "Operators",
        "other_language": "日本語",
        "footer_phone": "Support centre phone",
        "footer_hours": "Opening hours",
        "home_title": "Notices about malware on IoT devices",
        "home_intro": (
            "This programme watches traffic that arrives at unused Internet addresses (a darknet), "
            "finds IoT devices infected with malware such as Mirai, and tells their owners through "
            "their Internet service provider (ISP)."
        ),
        "home_alert_title": "What a genuine alert looks like",
        "home_alert_text": (
            "Your ISP sends an alert by letter, e-mail or similar that carries a notice ID "
            "(for example 7K3M-Q9ZD-A1TR-2). Enter the notice ID on this site to check that it is "
            "genuine and to see what was observed."
        ),
        "home_scam_title": "Beware of scams",
        "home_scam_money": "A genuine notice never asks for money, passwords or software installs.",
        "home_scam_link": (
            "Never follow a link in a message. Type this site's address yourself, or call a number "
            "you already know."
        ),
        "home_scam_phone": "If a message looks suspicious, ask the support centre.",
        "home_next_title": "If you received an alert",
        "home_next_verify": "Check the notice ID",
        "home_next_guidance": "See what to do for your device",
        "verify_title": "Check a notice ID",
        "verify_label": "Notice ID",
        "verify_hint": "For example 7K3M-Q9ZD-A1TR-2 (upper or lower case, hyphens optional)",
        "verify_submit": "Check",
        "verify_genuine": "This notice ID is genuine.",
        "verify_bad_check": (
            "The notice ID seems to be mistyped. Please check it against your alert and try again."
        ),
        "verify_not_found": "This notice ID was not found. The message may be a scam.",
        "verify_rate_limited": "Too many checks. Please wait a while and try again.",
        "verify_issued": "Notice issued",
        "verify_family": "Malware observed",
        "verify_ports": "Destination ports",
        "verify_first_seen": "First observed",
        "verify_last_seen": "Last observed",
        "verify_privacy": (
            "This page never shows your IP address or anything else that identifies you."
        ),
        "what_to_do_title": "What to do",
        "what_to_do_1": "Change the device's admin password to one that is hard to guess.",
        "what_to_do_2": "Update the firmware to the latest version.",
        "what_to_do_3": "Turn off remote Telnet and remote access to the admin page.",
        "what_to_do_4": "Restart the device; if that does not help, reset it to factory settings.",
        "selfcheck_title": "Check my current connection",
        "selfcheck_intro": (
            "Checks whether the connection you are using now (the address this page is served to) "
            "is recorded as possibly infected. No other address can be checked."
        ),
        "selfcheck_submit": "Check",
        "selfcheck_flagged": (
            "Traffic suggesting a malware infection was observed from your connection."
        ),
        "selfcheck_clear": "Your connection is not currently recorded as possibly infected.",
        "guidance_title": "Device guidance",
        "guidance_intro": "What to do for the kinds of device that are most often infected.",
        "guide_router": "Routers",
        "guide_router_text": (
            "Change the default password and update the firmware. Turn off remote admin and "
            "Telnet, and consider replacing models that no longer receive updates."
        ),
        "guide_camera": "Network cameras",
        "guide_camera_text": (
            "Always change the default password and update the firmware. Avoid settings that "
            "expose the camera directly to the Internet and turn off remote features you do not "
            "need."
        ),
        "guide_dvr": "Video recorders (DVR/NVR)",
        "guide_dvr_text": (
            "Change the admin password and install the latest firmware. Turn off Telnet, and reset "
            "the recorder if problems remain after a restart."
        ),
        "guide_nas": "Network storage (NAS)",
        "guide_nas_text": (
            "Change the admin password and update the system and its apps. Stop exposing services "
            "you do not need and keep a backup of your data."
        ),
        "guide_hub": "Smart-home devices and hubs",
        "guide_hub_text": (
            "Update the app and firmware and change default passwords. Consider replacing old "
            "devices that no longer receive updates."
        ),
        "guide_replace": "When to replace a device",
        "guide_replace_text": (
            "Replace devices whose maker no longer provides updates, or that become infected again "
            "even after a factory reset."
        ),
        "inquiry_title": "Contact us",
        "inquiry_intro": (
            "Send us your question about a notice or this site; you get a reference number."
        ),
        "inquiry_name": "Name (optional)",
        "inquiry_email": "E-mail address (optional, for our reply)",
        "inquiry_notice": "Notice ID (if you have one)",
        "inquiry_message": "Your question",
        "inquiry_submit": "Send",
        "inquiry_done": "We have received your inquiry.",
        "inquiry_reference": "Reference number",
        "inquiry_empty": "Please write your question.",
        "login_title": "Operator sign-in",
        "login_username": "User name",
        "login_password": "Password",
        "login_submit": "Sign in",
        "login_failed": "The user name or password is not correct.",
        "logout": "Sign out",
        "csrf_failed": "This form has expired. Please reload the page and try again.",
        "forbidden": "You are not allowed to see this page.",
        "not_found_page": "Page not found.",
        "cases_title": "Cases",
        "cases_filter": "Filter",
        "cases_status": "Status",
        "cases_isp": "ISP",
        "cases_any": "Any",
        "cases_apply": "Apply",
        "cases_none": "No cases match.",
        "cases_count": "Count",
        "cases_showing": "showing",
        "cases_pages": "Pages",
        "cases_prev": "Previous page",
        "cases_next": "Next page",
        "col_notice_id": "Notice ID",
        "col_ip": "IP address",
        "col_family": "Malware",
        "col_first_seen": "First seen",
        "col_last_seen": "Last seen",
        "col_packets": "Packets",
        "col_status": "Status",
        "col_isp": "ISP",
        "dashboard_title": "Dashboard",
        "dashboard_cases_by_status": "Cases by status",
        "dashboard_cases_by_isp": "Cases by ISP",
        "dashboard_top_ports": "Top destination ports",
        "dashboard_packets_per_day": "Packets per day",
        "dashboard_no_data": "No data yet.",
        "dashboard_infected_per_day": "Infected hosts per day",
        "dashboard_remediation": "Share no longer observed 14 days after notification (%)",
        "dashboard_inquiries": "Open inquiries",
        "status_new": "New",
        "status_notified": "Notified",
        "status_acknowledged": "Acknowledged by ISP",
        "status_resolved": "Resolved",
        "status_reinfected": "Reinfected",
        "status_expired": "No longer observed",
        "unassigned": "Unassigned",
        "illegal_transition": "The case cannot move to that status.",
        "case_detail_title": "Case details",
        "evidence": "Evidence",
        "events": "History",
        "change_status": "Change status",
        "note": "Note",
        "submit_status": "Change",
        "col_asn": "AS number",
        "col_country": "Country",
        "col_confidence": "Confidence",
        "col_ports": "Ports",
        "col_at": "When",
        "col_actor": "By",
        "col_change": "Change",
        "col_note": "Note",
        "inquiries_title": "Inquiries",
        "inquiries_open": "Open",
        "inquiries_answered": "Answered",
        "col_reference": "Reference",
        "col_created": "Received",
        "col_language": "Language",
        "col_preview": "Message",
        "inquiry_history": "Conversation",
        "direction_in": "From the subscriber",
        "direction_out": "Reply",
        "emailed": "queued for e-mail",
        "reply": "Reply",
        "reply_submit": "Send reply",
        "inquiries_none": "No inquiries.",
        "isp_login_title": "ISP portal sign-in",
        "isp_token": "ISP access token",
        "isp_login_failed": "The token is not valid or has been revoked.",
        "isp_portal_title": "ISP portal",
        "isp_reports": "Download reports",
        "isp_figures": "Clean-up figures",
        "fig_notified": "Cases notified",
        "fig_active": "Cases still open",
        "fig_cleaned_7": "No longer observed within 7 days",
        "fig_cleaned_14": "No longer observed within 14 days",
        "fig_cleaned_30": "No longer observed within 30 days",
        "fig_median_days": "Median days from notice to last observation",
        "isps_title": "ISP registry",
        "col_display": "Display name",
        "col_contacts": "Contacts",
        "col_delivery": "Delivery",
        "deliveries_title": "Notification delivery",
        "col_period": "Period",
        "col_recipients": "Recipients",
        "col_attempts": "Attempts",
        "col_error": "Error",
        "retry": "Retry",
        "accounts_title": "Operator accounts",
        "account_add": "Add account",
        "account_invalid": "Check the user name, the password (8 characters or more) and the role.",
        "col_role": "Role",
        "role_viewer": "Viewer",
        "role_operator": "Operator",
        "role_admin": "Administrator",
    },
}


def pick_language(requested: str | None) -> str:
    """The language to render: the requested one when supported, else Japanese."""
    return requested if requested in LANGUAGES else DEFAULT_LANGUAGE


def translator(lang: str) -> Callable[[str], str]:
    """A lookup for one language; a key built from data (e.g. a status another part adds
    later) that is not in the catalogue shows as itself rather than failing the page."""
    catalogue = MESSAGES[pick_language(lang)]

    def translate(key: str) -> str:
        return catalogue.get(key, key)

    return translate
