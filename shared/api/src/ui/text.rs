//! The dashboard's words. The core and the API speak English to programs (`/v1` error
//! bodies, logs); a planner reads Vietnamese. Each error a form can get is put in
//! Vietnamese here, by the field it names and the kind of fault; a message with no
//! translation yet is shown as a Vietnamese sentence naming the field, with the original
//! beside it.

use outreach_core::CoreError;

use crate::auth::Role;
use crate::error::ApiError;

/// A role as a person says it.
pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::Admin => "Quản trị tỉnh",
        Role::Planner => "Cán bộ lập kế hoạch",
        Role::CommuneOfficer => "Cán bộ xã",
        Role::Viewer => "Người xem",
    }
}

/// The Vietnamese name of an input field, by its last part (`attendees[0].phone` → số
/// điện thoại).
pub fn field_label(field: &str) -> String {
    let last = field.rsplit('.').next().unwrap_or(field);
    let last = last.split('[').next().unwrap_or(last);
    let label = match last {
        "phone" => "số điện thoại",
        "name" => "họ và tên",
        "email" => "email",
        "commune_code" | "commune" => "xã/phường",
        "role" => "vai trò",
        "contact_id" => "người",
        "consents" | "consent" => "đồng ý nhận tin",
        "file" => "tệp",
        "row" => "dòng",
        "attendees" => "danh sách tham dự",
        "metrics" => "kết quả",
        "volunteer_ids" | "member_ids" => "tình nguyện viên",
        "schedule" | "cron" => "lịch lặp",
        "time_zone" => "múi giờ",
        "session_minutes" => "thời lượng buổi",
        "period" => "thời gian chiến dịch",
        "start" => "ngày bắt đầu",
        "end" => "ngày kết thúc",
        "target_units" => "địa bàn",
        "reminder_rules" | "channels" => "quy tắc nhắc",
        "sms_template" => "nội dung SMS",
        "email_template" | "email_subject" => "nội dung email",
        "venue" => "địa điểm",
        "starts_at" => "giờ bắt đầu",
        "duration_minutes" => "thời lượng",
        "capacity" => "sức chứa",
        "min_staff" => "số tình nguyện viên tối thiểu",
        "csrf" => "biểu mẫu",
        other => return format!("trường «{other}»"),
    };
    label.to_string()
}

/// A field's fault in Vietnamese.
pub fn field_message(field: &str, message: &str) -> String {
    let m = message;
    if m.contains("pre-2018 11-digit") {
        // "0166… is a pre-2018 11-digit number; the prefix 0166 became 036 (write 036…)"
        let write = m.rsplit("(write ").next().unwrap_or("").trim_end_matches(')');
        format!("Số 11 chữ số cũ đã đổi đầu số từ năm 2018; hãy viết {write}.")
    } else if m.contains("the phone number is empty") {
        "Chưa nhập số điện thoại.".into()
    } else if m.contains("is not a valid Vietnamese number") || m.contains("not a phone number") {
        "Số điện thoại không hợp lệ.".into()
    } else if m.contains("only Vietnamese numbers") {
        "Chỉ nhận số điện thoại Việt Nam (+84).".into()
    } else if m.contains("a phone number holds only") {
        "Số điện thoại chỉ gồm chữ số, dấu cách, +, -, . và dấu ngoặc.".into()
    } else if m.contains("cannot be a contact's number") {
        "Loại số này không dùng được cho người liên hệ.".into()
    } else if m.contains("nobody is registered with this phone") {
        "Chưa có ai đăng ký với số này: nhập họ tên để ghi nhận người đến trực tiếp.".into()
    } else if m.contains("already on the list") {
        "Người này đã có trong danh sách.".into()
    } else if m.starts_with("no contact") || (m.contains("does not exist") && m.starts_with("contact")) {
        "Không tìm thấy người này.".into()
    } else if m.contains("is not a volunteer") {
        "Người này không phải tình nguyện viên.".into()
    } else if m.contains("is not in the volunteer team") {
        "Người này không thuộc đội tình nguyện của xã.".into()
    } else if m.contains("cannot change once the campaign is active") {
        format!(
            "Không thể đổi {} khi chiến dịch đã chạy; hãy tạo chiến dịch mới.",
            field_label(field)
        )
    } else if let Some(held) = m.strip_prefix("cannot end before the last session already held (") {
        let held = held.trim_end_matches(')');
        let shown = chrono::NaiveDate::parse_from_str(held, "%Y-%m-%d")
            .map_or_else(|_| held.to_string(), |d| d.format("%d/%m/%Y").to_string());
        format!("Không thể kết thúc trước buổi cuối cùng đã diễn ra ({shown}).")
    } else if m.contains("must not be empty") {
        format!("Chưa nhập {}.", field_label(field))
    } else if let Some(max) = m.strip_prefix("at most ").and_then(|r| r.split(' ').next()) {
        format!(
            "{} quá dài hoặc quá nhiều (tối đa {max}).",
            capitalise(&field_label(field))
        )
    } else if m.contains("control characters") {
        "Có ký tự điều khiển không được phép.".into()
    } else if m.contains("not an email address") {
        "Địa chỉ email không hợp lệ.".into()
    } else if m.contains("an email consent needs an email address") || m.contains("has no email address") {
        "Muốn nhận email thì cần có địa chỉ email.".into()
    } else if m.contains("does not exist") && (field.contains("commune") || m.contains("commune")) {
        "Xã/phường này không có trong danh mục.".into()
    } else if m.starts_with("unit ") && m.contains("does not exist") {
        // "unit \"99999\" does not exist on 2026-10-03": a code typed into a filter or a link.
        "Đơn vị này không có trong danh mục.".into()
    } else if m.contains("is a ") && m.contains(", not a commune") {
        "Đơn vị này không phải cấp xã/phường.".into()
    } else if m.contains("already exists") && m.contains("phone") {
        "Số điện thoại này đã được đăng ký.".into()
    } else if m.contains("starts at") && m.contains("once it has started") {
        "Buổi chưa bắt đầu: chỉ ghi nhận được sau giờ bắt đầu.".into()
    } else if let Some(minutes) = m.strip_prefix("check-in opens ").and_then(|r| r.split(' ').next()) {
        format!("Chỉ điểm danh được từ {minutes} phút trước giờ bắt đầu buổi.")
    } else if m.contains("registered in another area") {
        "Số này đã đăng ký ở địa bàn khác: hãy ghi nhận người này trong danh sách tham dự của buổi.".into()
    } else if m.contains("was cancelled") {
        "Buổi này đã bị hủy.".into()
    } else if m.contains("CSV header lacks") {
        let columns = m.rsplit(": ").next().unwrap_or("");
        format!("Tệp CSV thiếu cột: {columns}.")
    } else if m.contains("unreadable CSV") || m.contains("not UTF-8") {
        "Không đọc được tệp CSV (cần mã hóa UTF-8).".into()
    } else if let Some(most) = m
        .split("more than one session can achieve (at most ")
        .nth(1)
        .map(|r| r.trim_end_matches(')'))
    {
        let most = most
            .parse::<i64>()
            .map_or_else(|_| most.to_string(), super::format::count);
        format!("Quá lớn cho một buổi (tối đa {most}).")
    } else if m.contains("in the future") {
        "Thời điểm không được ở tương lai.".into()
    } else {
        format!("{} không hợp lệ ({m}).", capitalise(&field_label(field)))
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Any API error in Vietnamese, for the error page or the top of a form.
pub fn error_message(e: &ApiError) -> String {
    match e {
        ApiError::Core(CoreError::Validation { field, message }) => field_message(field, message),
        ApiError::Core(CoreError::AlreadyExists { entity, .. }) if entity.contains("phone") => {
            "Số điện thoại này đã được đăng ký.".into()
        }
        ApiError::Core(CoreError::AlreadyExists { .. }) => "Mục này đã có.".into(),
        ApiError::Core(CoreError::NotFound { .. }) | ApiError::NoRoute => {
            "Không có mục này, hoặc nó nằm ngoài địa bàn của bạn.".into()
        }
        ApiError::Core(CoreError::Conflict(m)) if m.contains("already started") => {
            "Buổi đã bắt đầu nên không thay đổi được nữa.".into()
        }
        ApiError::Core(CoreError::Conflict(m)) if m.contains("is cancelled") => "Buổi này đã bị hủy.".into(),
        ApiError::Core(CoreError::Conflict(_)) => {
            "Dữ liệu vừa được người khác thay đổi. Hãy tải lại trang và thử lại.".into()
        }
        ApiError::Core(CoreError::InvalidTransition { .. }) => {
            "Chiến dịch đang ở trạng thái không cho phép việc này.".into()
        }
        ApiError::Core(CoreError::ImportRejected(rows)) => {
            format!("Tệp bị từ chối: {} dòng có lỗi.", rows.len())
        }
        ApiError::Core(CoreError::Storage(_)) => "Kho dữ liệu tạm thời không phản hồi. Hãy thử lại sau.".into(),
        ApiError::BadRequest {
            field: Some(field),
            message,
        } => field_message(field, message),
        ApiError::BadRequest { field: None, .. } => "Yêu cầu không hợp lệ.".into(),
        ApiError::Unauthorized(_) => "Phiên đăng nhập đã hết hạn. Hãy đăng nhập lại.".into(),
        ApiError::Forbidden(_) => "Việc này nằm ngoài quyền hoặc địa bàn của bạn.".into(),
        ApiError::MethodNotAllowed => "Thao tác không được hỗ trợ.".into(),
        ApiError::UnsupportedMediaType(_) => "Định dạng tệp không được hỗ trợ.".into(),
        ApiError::PayloadTooLarge(_) => "Tệp quá lớn (tối đa 10 MB).".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_faults_read_in_vietnamese() {
        assert_eq!(
            field_message(
                "phone",
                "01662345678… is a pre-2018 11-digit number; the prefix 0166 became 036 (write 0362345678)"
            ),
            "Số 11 chữ số cũ đã đổi đầu số từ năm 2018; hãy viết 0362345678."
        );
        assert_eq!(field_message("name", "must not be empty"), "Chưa nhập họ và tên.");
        assert_eq!(
            field_message("attendees[2].phone", "0912 is not a valid Vietnamese number"),
            "Số điện thoại không hợp lệ."
        );
        assert_eq!(
            field_message("commune", "unit \"99999\" does not exist on 2026-10-03"),
            "Xã/phường này không có trong danh mục."
        );
        assert_eq!(
            field_message("unit", "unit \"99999\" does not exist on 2026-10-03"),
            "Đơn vị này không có trong danh mục."
        );
        assert!(field_message("weird", "something odd").starts_with("Trường «weird» không hợp lệ"));
    }
}
